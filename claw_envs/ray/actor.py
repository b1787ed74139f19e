"""The Ray actor that holds one claw env (and so its sandbox) on some node of a Ray cluster."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class EnvFactory:
    """A picklable ``make()`` for ``gym.make(env_id, **kwargs)`` (what actors build their env with)."""

    env_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> Any:
        import gymnasium as gym

        import claw_envs  # noqa: F401 - registers the ids in the worker process

        return gym.make(self.env_id, **self.kwargs)


class EnvActor:
    """One env in a Ray worker process. Wrapped with ``ray.remote`` by :func:`actor_class`."""

    def __init__(self, make: Callable[[], Any]):
        self.env = make()

    def describe(self) -> dict[str, Any]:
        """Spaces, kind and metadata: what a :class:`~claw_envs.ray.env.RayEnv` mirrors."""
        base = self.env.unwrapped
        return {"observation_space": self.env.observation_space, "action_space": self.env.action_space,
                "kind": getattr(base, "kind", None), "metadata": dict(base.metadata),
                "has_tools": hasattr(base, "offered_tools"), "has_outcome": hasattr(base, "outcome_if_stopped")}

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple:
        return self.env.step(action)

    def call(self, name: str) -> Any:
        """The unwrapped env's attribute ``name``, called when callable (``offered_tools``, ...)."""
        value = getattr(self.env.unwrapped, name)
        return value() if callable(value) else value

    def node_id(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def close(self) -> None:
        self.env.close()


_ACTOR: dict[str, Any] = {}


def actor_class() -> Any:
    """``ray.remote(EnvActor)``, made once per process (importing ray is deferred until Ray is used)."""
    if "cls" not in _ACTOR:
        import ray

        _ACTOR["cls"] = ray.remote(EnvActor)
    return _ACTOR["cls"]


# An env actor mostly waits (on its sandbox, a subprocess, a browser): a quarter of a CPU each, so 8 sub-envs fit
# on a 2-CPU node. Override with ``actor_options`` (``env.ray_actor_options`` in a run config).
DEFAULT_ACTOR_OPTIONS: dict[str, Any] = {"num_cpus": 0.25, "scheduling_strategy": "SPREAD", "max_restarts": 0}


def actor_options(options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Ray options of an env actor: :data:`DEFAULT_ACTOR_OPTIONS` overridden by ``options``."""
    return {**DEFAULT_ACTOR_OPTIONS, **(options or {})}


def start_actor(make: Callable[[], Any], options: dict[str, Any] | None = None) -> Any:
    """A new env actor (non-blocking: Ray schedules it; the first call waits for it). By default actors
    ask for a quarter of a CPU and are spread over the cluster's nodes."""
    return actor_class().options(**actor_options(options)).remote(make)
