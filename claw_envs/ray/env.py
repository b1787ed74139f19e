"""``RayEnv``: a Gymnasium env whose env lives in a Ray actor, with a per-step deadline.

Failure contract (what a trainer can rely on): when the actor (or the node it runs on) dies, or a step
exceeds ``step_timeout`` seconds, ``step`` does not raise. It returns the episode's last observation with
reward 0, ``terminated=False``, ``truncated=True`` and ``info`` holding ``env_lost=True``, ``error`` (the
reason) and a ``next_state`` with ``done_reason="env_lost"`` — a lost episode, which trainers must drop
rather than score (its reward is not an outcome). The dead or late actor is killed and a replacement is
started at once (Ray places it on a live node); the next ``reset`` uses it. ``reset`` itself retries on a
fresh actor (``reset_attempts`` in all). Exceptions raised by the env's own code inside the actor propagate
as they do in-process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from claw_envs.core.errors import RemoteError
from claw_envs.core.nextstate import NextState
from claw_envs.ray.actor import EnvFactory, start_actor

LOST = "env_lost"


def _lost_errors() -> tuple[type[BaseException], ...]:
    import ray.exceptions as rex

    return (rex.RayActorError, rex.GetTimeoutError, rex.ActorUnavailableError, rex.WorkerCrashedError,
            rex.NodeDiedError, rex.OwnerDiedError, rex.ObjectLostError)


class RayEnv(gym.Env):
    """One claw env in a Ray actor. ``make`` (picklable) builds the env on the worker; ``env_id`` +
    ``env_kwargs`` is the common case. ``actor`` adopts an existing actor (e.g. one leased from a pool)."""

    def __init__(self, env_id: str | None = None, env_kwargs: dict[str, Any] | None = None, *,
                 make: Callable[[], Any] | None = None, step_timeout: float = 120.0, reset_timeout: float = 600.0,
                 actor_options: dict[str, Any] | None = None, actor: Any = None,
                 described: dict[str, Any] | None = None, reset_attempts: int = 3):
        if make is None and env_id is None:
            raise ValueError("RayEnv needs env_id or make")
        self.make = make or EnvFactory(env_id, dict(env_kwargs or {}))
        self.env_id = env_id or getattr(self.make, "env_id", "")
        self.step_timeout, self.reset_timeout = step_timeout, reset_timeout
        self.actor_options, self.reset_attempts = actor_options, max(1, reset_attempts)
        self.actor = actor if actor is not None else start_actor(self.make, actor_options)
        d = described or self._get(self.actor.describe.remote(), reset_timeout, "starting the env actor")
        self.observation_space, self.action_space = d["observation_space"], d["action_space"]
        self.kind, self.metadata = d["kind"], d["metadata"]
        self._described = d
        self.render_mode = None
        self.messages: list[dict[str, Any]] = []
        self.task_id: str | None = None
        self.lost_episodes = 0
        self.replaced_actors = 0

    @staticmethod
    def _get(ref: Any, timeout: float, what: str) -> Any:
        import ray

        try:
            return ray.get(ref, timeout=timeout)
        except _lost_errors() as e:
            raise RemoteError(f"Ray env actor failed while {what}: {type(e).__name__}: {e}") from e

    def replace_actor(self) -> None:
        """Kill the current actor (if still alive) and start a replacement."""
        import ray

        try:
            ray.kill(self.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already dead
            pass
        self.actor = start_actor(self.make, self.actor_options)
        self.replaced_actors += 1

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        for attempt in range(self.reset_attempts):
            try:
                obs, info = self._get(self.actor.reset.remote(seed, options), self.reset_timeout, "resetting")
                break
            except RemoteError:
                if attempt == self.reset_attempts - 1:
                    raise
                self.replace_actor()  # e.g. placed on a node that was dying
        self.messages, self.task_id = list(obs), info.get("task_id") or info.get("instance_id")
        return obs, info

    def step(self, action: Any):
        import ray

        try:
            out = ray.get(self.actor.step.remote(action), timeout=self.step_timeout)
        except _lost_errors() as e:
            import ray.exceptions as rex

            reason = (f"step exceeded the {self.step_timeout:g} s deadline" if isinstance(e, rex.GetTimeoutError)
                      else f"the env actor died ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
            return self._lost(reason)
        obs = out[0]
        self.messages = list(obs)
        return out

    def _lost(self, reason: str):
        self.lost_episodes += 1
        self.replace_actor()
        text = f"episode lost: {reason}; the env was replaced and this episode must not be scored"
        ns = NextState(role="environment", kind=self.kind or "terminal", text=text, done_reason=LOST,
                       payload={"error": reason})
        info = {"next_state": ns, "error": reason, LOST: True, "task_id": self.task_id}
        return list(self.messages), 0.0, False, True, info

    def node_id(self) -> str:
        """The Ray node the current actor runs on."""
        return self._get(self.actor.node_id.remote(), self.reset_timeout, "asking its node")

    @property
    def offered_tools(self) -> Any:
        if not self._described.get("has_tools"):
            raise AttributeError("offered_tools")
        return lambda: self._get(self.actor.call.remote("offered_tools"), self.step_timeout, "listing tools")

    @property
    def outcome_if_stopped(self) -> Any:
        if not self._described.get("has_outcome"):
            raise AttributeError("outcome_if_stopped")
        return lambda: float(self._get(self.actor.call.remote("outcome_if_stopped"), self.step_timeout, "scoring"))

    def close(self) -> None:
        import ray

        if self.actor is not None:
            try:
                ray.get(self.actor.close.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - best effort; the kill below frees it anyway
                pass
            try:
                ray.kill(self.actor, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
            self.actor = None
        super().close()
