"""Claw envs hosted on a Ray cluster: each sub-env (and its sandbox) lives in a Ray actor.

* :class:`RayEnv` — one env in an actor, with a per-step deadline; a dead actor/node or a missed deadline
  ends the episode as ``truncated`` with ``info["env_lost"]`` (never an outcome) and the actor is replaced.
* :func:`make_ray_vector` — ``num_envs`` of them, spread over the nodes, in a ``ClawVectorEnv``.
* :class:`RayEnvPool` — env actors shared across drivers, with ``acquire``/``release``.
* :func:`connect` — join a cluster (``address``) or start a local one on 127.0.0.1.

Needs ``pip install ray`` (the ``[ray]`` extra); importing this package does not import Ray.
"""

from claw_envs.ray.actor import EnvFactory
from claw_envs.ray.env import LOST, RayEnv
from claw_envs.ray.pool import RayEnvPool
from claw_envs.ray.vector import connect, make_ray_vector, ray_env_factories

__all__ = ["LOST", "EnvFactory", "RayEnv", "RayEnvPool", "connect", "make_ray_vector", "ray_env_factories"]
