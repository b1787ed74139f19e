"""Where a vector env's sub-envs run — one switch, the same episodes:

* ``local``  — in this process (``gym.make``), stepped by threads;
* ``ray``    — each sub-env in a Ray actor on a Ray cluster (``ray_address``; empty = start Ray on 127.0.0.1);
* ``remote`` — each sub-env a session on a ``claw env-server`` (``remote_urls``, round-robin).

:func:`env_factories` returns one factory per sub-env slot for :class:`~claw_envs.vector.ClawVectorEnv`
(wrappers such as ``PRMReward`` go around what they return, on this machine).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from claw_envs.core.errors import ConfigError

HOSTINGS = ("local", "ray", "remote")
log = logging.getLogger(__name__)


def env_factories(env_id: str, env_kwargs: dict[str, Any], num_envs: int, hosting: str = "local", *,
                  ray_address: str = "", remote_urls: Sequence[str] = (), remote_token: str | None = None,
                  step_timeout: float = 120.0, ray_actor_options: dict[str, Any] | None = None
                  ) -> list[Callable[[], Any]]:
    """``num_envs`` zero-argument env factories for ``hosting``; ConfigError for a bad combination."""
    if hosting == "local":
        import gymnasium as gym

        import claw_envs  # noqa: F401 - registers the ids

        return [lambda: gym.make(env_id, **env_kwargs)] * num_envs
    if hosting == "ray":
        from claw_envs.ray import connect, ray_env_factories

        connect(ray_address or None)
        return ray_env_factories(env_id, num_envs, env_kwargs=env_kwargs, step_timeout=step_timeout,
                                 actor_options=ray_actor_options)
    if hosting == "remote":
        from claw_envs.remote import RemoteEnv

        if not remote_urls:
            raise ConfigError("env.hosting=remote needs env.remote_urls: the `claw env-server` URLs, "
                              "e.g. [http://10.0.0.5:8000]")
        for url in remote_urls:
            served = RemoteEnv(url, token=remote_token).env_id
            if served != env_id:
                raise ConfigError(f"env server {url} serves {served}, but env.id is {env_id}")
        if env_kwargs:
            log.warning("env.kwargs are ignored with hosting=remote: the env server's --kwargs apply")
        urls = [remote_urls[i % len(remote_urls)] for i in range(num_envs)]
        return [lambda url=url: RemoteEnv(url, token=remote_token, timeout=step_timeout) for url in urls]
    raise ConfigError(f"env.hosting must be one of {', '.join(HOSTINGS)}; got {hosting!r}")
