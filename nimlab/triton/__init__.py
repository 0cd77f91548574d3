"""The hand-built stack: our engine behind the real Triton Inference Server, with an OpenAI front end.

    model_repository/   the Triton model repository (templates: config.pbtxt + 1/model.py per model)
    steps.py            each model's step as plain Python: model.py files delegate here (tested without Triton)
    render.py           presets (tuned / untuned) -> a filled, loadable repository
    validate.py         config.pbtxt checks: the real schema (file:line:column) plus semantic traps
    launcher.py         start/stop the bundled tritonserver binary (stub, PATH, libpython handled)
    frontend.py         OpenAI-compatible API that reaches Triton only through tritonclient (gRPC)
    cli.py              the `nimlab triton ...` subcommands

Errors reach the user through nimlab.errors: ConfigError (bad template, preset or config.pbtxt),
ServiceError (tritonserver or the front end did not start / died / left a port busy).
"""
