"""JupyterHub configuration of the nimlab workshop (run by `nimlab workshop up`, in the hub's own venv).

Everything room-specific comes from the JSON file named by NIMLAB_WORKSHOP_CONFIG, which
`nimlab workshop up` writes (nimlab/workshop/config.py) after checking it; secrets come from the environment
only, never from a file in the repository:

- NIMLAB_WORKSHOP_ADMIN_TOKEN: the API token of the `nimlab-workshop` service (the instructor's tools and
  the tests drive the hub's REST API with it: create learners, start/stop servers, issue learner tokens).
- NIMLAB_WORKSHOP_PASSWORD: the room's shared learner password (SharedPasswordAuthenticator, built into
  JupyterHub 5.3+: no extra package, no accounts to provision; fit for a supervised room, not for the internet).

This file imports only the standard library, jupyterhub and dockerspawner: the hub's venv has no nimlab.
"""

import json
import os
import sys

try:
    settings = json.loads(open(os.environ["NIMLAB_WORKSHOP_CONFIG"]).read())  # noqa: SIM115
    admin_token = os.environ["NIMLAB_WORKSHOP_ADMIN_TOKEN"]
    password = os.environ["NIMLAB_WORKSHOP_PASSWORD"]
except KeyError as exc:
    sys.exit(f"error: {exc.args[0]} is not set; fix: start the hub with `nimlab workshop up`, which sets it")

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file
state = settings["state_dir"]

# --- the hub and its proxy: public side on loopback (or the LAN address the instructor chose), the hub's
# own API on the room network's gateway address so the learners' containers can reach it, and nothing else.
c.JupyterHub.bind_url = f"http://{settings['bind']}:{settings['port']}"
c.JupyterHub.hub_ip = settings["hub_ip"]
c.JupyterHub.hub_port = settings["hub_port"]
c.JupyterHub.hub_connect_ip = settings["hub_ip"]
c.ConfigurableHTTPProxy.command = [settings["proxy_command"]]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings['proxy_api_port']}"
c.ConfigurableHTTPProxy.should_start = True
c.JupyterHub.cleanup_servers = True  # hub shutdown stops every learner's container (their volumes stay)
c.JupyterHub.cleanup_proxy = True
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = f"{state}/jupyterhub.pid"
c.JupyterHub.log_level = settings.get("log_level", "INFO")

# --- who gets in
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = password
if settings["learners"]:
    c.Authenticator.allowed_users = set(settings["learners"])
else:
    c.Authenticator.allow_all = True
c.JupyterHub.services = [{"name": "nimlab-workshop", "api_token": admin_token}]
c.JupyterHub.load_roles = [
    {
        "name": "nimlab-workshop",
        "description": "the instructor's tools: learners, their servers and tokens",
        "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "read:hub"],
        "services": ["nimlab-workshop"],
    }
]

# --- one container per learner from the learner image, on the room's network
c.JupyterHub.spawner_class = "docker"
c.DockerSpawner.image = settings["image"]
c.DockerSpawner.pull_policy = "never"  # built locally by scripts/deps/32-hub.sh; rooms need no registry
c.DockerSpawner.prefix = settings["name"]
c.DockerSpawner.name_template = "{prefix}-{username}"
c.DockerSpawner.network_name = settings["network"]
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.remove = True  # the container goes on stop; the learner's work volume stays
c.DockerSpawner.mem_limit = settings["mem_limit"]
c.DockerSpawner.cpu_limit = settings["cpu_limit"]
c.DockerSpawner.notebook_dir = "/home/nimlab/work"
c.DockerSpawner.volumes = {settings["volume_template"]: "/home/nimlab/work"}
# where the learner's code finds the room's services (NIMLAB_NIM_URL, NIMLAB_TRITON_OPENAI_URL,
# NIMLAB_TRITON_HTTP_URL: the variables nimlab.labkit reads; see WorkshopConfig.learner_env)
c.DockerSpawner.environment = dict(settings["environment"])
c.DockerSpawner.extra_host_config = {"init": True}  # tini: docker stop ends the server and any NIM promptly
c.DockerSpawner.extra_create_kwargs = {"labels": {"nimlab.workshop": settings["name"]}}
c.DockerSpawner.start_timeout = settings.get("start_timeout", 120)
c.DockerSpawner.http_timeout = settings.get("start_timeout", 120)
c.Spawner.default_url = "/lab"
