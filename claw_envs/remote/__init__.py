"""Claw envs out of process: ``claw env-server`` (OpenEnv's wire protocol) and its client ``RemoteEnv``.

Importing this package registers ``claw/Remote-v0`` (``gym.make("claw_envs.remote:claw/Remote-v0",
url=...)`` from anywhere), so code that builds envs by id — the TRL adapter's ``environment_factory``, the
vector env — can use a remote env. The server needs the ``[remote]`` extra (fastapi, uvicorn, websockets).
"""

import gymnasium as gym

from claw_envs.remote.client import RemoteEnv

REMOTE_ID = "claw/Remote-v0"
if REMOTE_ID not in gym.registry:
    gym.register(id=REMOTE_ID, entry_point="claw_envs.remote.client:RemoteEnv", disable_env_checker=True)

__all__ = ["REMOTE_ID", "RemoteEnv"]
