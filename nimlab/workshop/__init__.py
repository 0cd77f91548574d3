"""A workshop room beyond one laptop: JupyterHub + DockerSpawner, one container per learner from the lab image,
the course NIM shared per room or per learner, the hand-built stack (Triton) shared per room, and submissions
collected for `nimlab grade`.

    config   the room's settings, checked once (the hub's config file reads their JSON)
    room     its Docker network, shared NIM and Triton, usage and sweep
    hub      the JupyterHub process and its REST API
    learner  acting as a learner through the proxy: save a file, run a cell over the kernel websocket
    labs     the real lab notebooks, unchanged, run with nbclient inside a learner's container
    collect  work volumes -> a folder of submissions -> `nimlab grade` -> gradebook
    commands `nimlab workshop ...`
"""
