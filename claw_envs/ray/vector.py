"""A vector env whose sub-envs are Ray actors spread over a cluster's nodes, and the Ray connection helper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claw_envs.ray.actor import EnvFactory, actor_options, start_actor
from claw_envs.ray.env import RayEnv
from claw_envs.vector import ClawVectorEnv


def connect(address: str | None = None, **init_kwargs: Any) -> None:
    """Join the Ray cluster at ``address`` (``auto``, ``host:port`` or ``ray://host:port``), or with no address
    start a single-node Ray on 127.0.0.1 (no dashboard). Does nothing when Ray is already initialised. A cluster
    that cannot be found (``auto`` with none running) is a ``RemoteError`` saying how to start one.

    A loopback cluster (no address, or ``127.0.0.1:port``) stays on loopback: Ray otherwise swaps a loopback
    address for the machine's outward IP unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` was set before Ray
    was first imported — this sets it when Ray is not imported yet (set it yourself in a process that
    imports Ray earlier)."""
    import os

    host = (address or "").removeprefix("ray://").rpartition(":")[0]
    if not address or host in ("127.0.0.1", "localhost"):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        init_kwargs.setdefault("_node_ip_address", "127.0.0.1")
    try:
        import ray
    except ImportError as e:
        from claw_envs.core.errors import ConfigError

        raise ConfigError("Ray hosting needs Ray: pip install 'claw-gym[ray]'") from e

    if ray.is_initialized():
        return
    if address:
        try:
            ray.init(address=address, **init_kwargs)
        except ConnectionError as e:
            from claw_envs.core.errors import RemoteError

            where = ("no running Ray cluster was found on this machine" if address == "auto"
                     else f"no Ray cluster answers at {address!r}")
            raise RemoteError(f"connect({address!r}): {where} ({e}). Start one first (`ray start --head "
                              "--node-ip-address=127.0.0.1`, then connect('auto')), pass the head's address, or "
                              "call connect() with no address to start a local single-node Ray on 127.0.0.1") from e
    else:
        init_kwargs.setdefault("include_dashboard", False)
        ray.init(**init_kwargs)


def check_placement(num_envs: int, options: dict[str, Any] | None = None) -> None:
    """Raise ConfigError at once when the cluster's alive nodes cannot hold ``num_envs`` env actors with these
    options (CPUs, GPUs and custom resources, each actor on one node), instead of waiting for actors that
    never start."""
    import math

    import ray

    from claw_envs.core.errors import ConfigError

    opts = actor_options(options)
    need = {"CPU": float(opts.get("num_cpus") or 0), "GPU": float(opts.get("num_gpus") or 0),
            **{k: float(v) for k, v in (opts.get("resources") or {}).items()}}
    need = {k: v for k, v in need.items() if v > 0}
    if not need:
        return
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    room = sum(min(math.floor(res.get(k, 0.0) / v + 1e-9) for k, v in need.items()) for res in nodes)
    if room < num_envs:
        have = {k: sum(res.get(k, 0.0) for res in nodes) for k in need}
        ask = ", ".join(f"{v:g} {k}" for k, v in need.items())
        got = ", ".join(f"{v:g} {k}" for k, v in have.items())
        raise ConfigError(f"env.hosting=ray: {num_envs} env actors asking {ask} each cannot be placed: the cluster "
                          f"has {got} on {len(nodes)} alive node(s), room for {room} such actors. Lower "
                          "env.num_envs, lower env.ray_actor_options (e.g. {num_cpus: 0.25}, the default), or "
                          "add nodes")


def ray_env_factories(env_id: str | None = None, num_envs: int = 1, *, env_kwargs: dict[str, Any] | None = None,
                      make: Callable[[], Any] | None = None, step_timeout: float = 120.0, reset_timeout: float = 600.0,
                      actor_options: dict[str, Any] | None = None) -> list[Callable[[], RayEnv]]:
    """One factory per sub-env slot. All actors are started now (concurrently; Ray spreads them over the nodes);
    a slot's first call adopts its pre-started actor, later calls (a vector env replacing a failed sub-env)
    start a new one."""
    check_placement(num_envs, actor_options)
    make = make or EnvFactory(env_id, dict(env_kwargs or {}))
    actors: list[Any] = [start_actor(make, actor_options) for _ in range(num_envs)]
    shared: dict[str, Any] = {}

    def slot(i: int) -> Callable[[], RayEnv]:
        def factory() -> RayEnv:
            actor, actors[i] = actors[i], None
            env = RayEnv(env_id, make=make, step_timeout=step_timeout, reset_timeout=reset_timeout,
                         actor_options=actor_options, actor=actor, described=shared.get("described"))
            shared.setdefault("described", env._described)
            return env
        return factory

    return [slot(i) for i in range(num_envs)]


def make_ray_vector(env_id: str | None = None, num_envs: int = 1, *, env_kwargs: dict[str, Any] | None = None,
                    make: Callable[[], Any] | None = None, step_timeout: float = 120.0,
                    reset_timeout: float = 600.0, actor_options: dict[str, Any] | None = None,
                    wrap: Callable[[Any], Any] | None = None, max_workers: int | None = None) -> ClawVectorEnv:
    """``num_envs`` :class:`RayEnv` sub-envs in a :class:`~claw_envs.vector.ClawVectorEnv` (same autoreset and
    batching semantics as in-process; the driver's threads only wait on Ray). ``wrap`` (e.g. a ``PRMReward``
    factory) is applied on the driver. A sub-env whose actor dies or misses the deadline is reported
    ``truncated`` with ``info["env_lost"]`` and replaced."""
    slots = ray_env_factories(env_id, num_envs, env_kwargs=env_kwargs, make=make, step_timeout=step_timeout,
                              reset_timeout=reset_timeout, actor_options=actor_options)
    fns = [slot if wrap is None else (lambda slot=slot: wrap(slot())) for slot in slots]
    return ClawVectorEnv(fns, max_workers=max_workers or num_envs, step_timeout=None)
