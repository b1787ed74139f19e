"""A pool of env actors shared by several drivers (trainers, evaluators): acquire an env, use it, release it.

The pool is a (optionally named) Ray actor holding ``size`` env actors. ``acquire`` leases one as a
:class:`~claw_envs.ray.env.RayEnv` (waiting up to ``timeout`` seconds when all are leased) and ``release``
gives it back — the actor it holds then, which is a replacement if the original died. Another driver in the
same Ray namespace joins with ``RayEnvPool.connect(name)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from claw_envs.core.errors import RemoteError
from claw_envs.ray.actor import EnvFactory, start_actor
from claw_envs.ray.env import RayEnv


class PoolManager:
    """The pool's own actor (async): free env actors and a count of leases."""

    def __init__(self, make: Any, size: int, actor_options: dict[str, Any] | None):
        import asyncio

        self.make, self.size, self.actor_options = make, size, actor_options
        self.free = [start_actor(make, actor_options) for _ in range(size)]
        self.leased = 0
        self.cond = asyncio.Condition()

    async def acquire(self, timeout: float | None) -> Any:
        import asyncio

        async with self.cond:
            try:
                await asyncio.wait_for(self.cond.wait_for(lambda: bool(self.free)), timeout)
            except TimeoutError:
                return None
            self.leased += 1
            return [self.free.pop(0)]  # wrapped: a bare handle would be resolved as an ObjectRef

    async def release(self, handle: list[Any]) -> None:
        async with self.cond:
            self.leased -= 1
            self.free.append(handle[0] if handle and handle[0] is not None else
                             start_actor(self.make, self.actor_options))
            self.cond.notify()

    def describe(self) -> dict[str, Any]:
        return {"make": self.make, "actor_options": self.actor_options}

    def stats(self) -> dict[str, int]:
        return {"size": self.size, "free": len(self.free), "leased": self.leased}

    def shutdown(self) -> None:
        import ray

        for a in self.free:
            with contextlib.suppress(Exception):
                ray.kill(a, no_restart=True)
        self.free = []


class RayEnvPool:
    """Client of a pool of ``size`` env actors (see the module docstring)."""

    def __init__(self, env_id: str | None = None, size: int = 1, *, env_kwargs: dict[str, Any] | None = None,
                 make: Any = None, name: str | None = None, step_timeout: float = 120.0,
                 actor_options: dict[str, Any] | None = None, _manager: Any = None):
        import ray

        self.step_timeout = step_timeout
        if _manager is not None:
            self.manager = _manager
        else:
            make = make or EnvFactory(env_id, dict(env_kwargs or {}))
            opts: dict[str, Any] = {"num_cpus": 0}
            if name:
                opts.update(name=name, get_if_exists=True)
            self.manager = ray.remote(PoolManager).options(**opts).remote(make, size, actor_options)
        d = ray.get(self.manager.describe.remote())
        self.make, self.actor_options = d["make"], d["actor_options"]
        self._described: dict[str, Any] | None = None

    @classmethod
    def connect(cls, name: str, step_timeout: float = 120.0) -> RayEnvPool:
        """Join the pool another driver created with ``name``."""
        import ray

        try:
            manager = ray.get_actor(name)
        except ValueError as e:
            raise RemoteError(f"no Ray env pool named {name!r} in this namespace") from e
        return cls(step_timeout=step_timeout, _manager=manager)

    def acquire(self, timeout: float | None = None) -> RayEnv:
        """Lease an env; RemoteError when none is free within ``timeout`` seconds (None = wait)."""
        import ray

        got = ray.get(self.manager.acquire.remote(timeout))
        if got is None:
            raise RemoteError(f"no env free in the pool within {timeout:g} s ({self.stats()}); release envs "
                              "or make the pool larger")
        env = RayEnv(make=self.make, step_timeout=self.step_timeout, actor_options=self.actor_options,
                     actor=got[0], described=self._described)
        self._described = env._described
        return env

    def release(self, env: RayEnv) -> None:
        """Give ``env``'s current actor back to the pool (the env must not be used afterwards)."""
        import ray

        ray.get(self.manager.release.remote([env.actor]))
        env.actor = None

    @contextlib.contextmanager
    def lease(self, timeout: float | None = None) -> Iterator[RayEnv]:
        env = self.acquire(timeout)
        try:
            yield env
        finally:
            self.release(env)

    def stats(self) -> dict[str, int]:
        import ray

        return ray.get(self.manager.stats.remote())

    def shutdown(self) -> None:
        import ray

        with contextlib.suppress(Exception):
            ray.get(self.manager.shutdown.remote(), timeout=30)
        with contextlib.suppress(Exception):
            ray.kill(self.manager)

    close = shutdown  # the name every env and vector env uses

    def __enter__(self) -> RayEnvPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
