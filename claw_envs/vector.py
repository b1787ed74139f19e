"""A concurrent vector env over any claw env: sub-envs step in threads (env steps are I/O-bound).

Semantics (``metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP``, Gymnasium's default): when a sub-env's
episode ends at step t, the call to ``step`` at t+1 resets it instead of stepping, ignores its action and
returns the first observation of the new episode with reward 0 and ``terminated = truncated = False``.

Observations and actions batch as tuples (one chat/text per sub-env); ``infos`` are Gymnasium's batched dict
with ``_key`` masks. A sub-env step that raises or exceeds ``step_timeout`` seconds does not take the batch
down: that sub-env is closed, reported as ``truncated`` with ``infos["error"]``, and reset on the next step.
Gymnasium's own ``AsyncVectorEnv`` (one process per sub-env) also works with every claw env. At most
``max_workers`` (default ``min(num_envs, 16)``) sub-env steps run at once.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space


class ClawVectorEnv(VectorEnv):
    """``num_envs`` claw envs stepped concurrently by a thread pool."""

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], max_workers: int | None = None,
                 step_timeout: float | None = None):
        if not env_fns:
            raise ValueError("ClawVectorEnv needs at least one env factory")
        self.env_fns = list(env_fns)
        self.envs = [fn() for fn in self.env_fns]
        self.num_envs = len(self.envs)
        first = self.envs[0]
        self.metadata = {**first.metadata, "autoreset_mode": AutoresetMode.NEXT_STEP}
        self.render_mode = first.render_mode
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.step_timeout = step_timeout
        # Bounded by default: each in-flight command costs ~3 processes, and small machines cap processes.
        self._pool = cf.ThreadPoolExecutor(max_workers or min(self.num_envs, 16), thread_name_prefix="claw-env")
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        seeds = list(seed) if isinstance(seed, Sequence) else (
            [seed + i for i in range(self.num_envs)] if seed is not None else [None] * self.num_envs)
        if len(seeds) != self.num_envs:
            raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} envs")
        futs = [self._pool.submit(env.reset, seed=s, options=options) for env, s in zip(self.envs, seeds, strict=True)]
        obs, infos = [], {}
        for i, f in enumerate(futs):
            o, info = f.result()
            obs.append(o)
            infos = self._add_info(infos, info, i)
        self._needs_reset[:] = False
        return tuple(obs), infos

    def _step_one(self, i: int, action: Any):
        env = self.envs[i]
        if self._needs_reset[i]:
            o, info = env.reset()
            return o, 0.0, False, False, info
        return env.step(action)

    def step(self, actions: Sequence[Any]):
        if len(actions) != self.num_envs:
            raise ValueError(f"got {len(actions)} actions for {self.num_envs} envs")
        futs = [self._pool.submit(self._step_one, i, a) for i, a in enumerate(actions)]
        obs, rewards = [], np.zeros(self.num_envs, dtype=np.float64)
        terms = np.zeros(self.num_envs, dtype=bool)
        truncs = np.zeros(self.num_envs, dtype=bool)
        infos: dict[str, Any] = {}
        for i, f in enumerate(futs):
            try:
                o, r, te, tr, info = f.result(timeout=self.step_timeout)
            except Exception as e:  # noqa: BLE001 - one sub-env failing must not take the batch down
                o, r, te, tr = self._recover(i, f), 0.0, False, True
                reason = "step timed out" if isinstance(e, cf.TimeoutError) else f"{type(e).__name__}: {e}"
                info = {"error": f"sub-env {i}: {reason}; it was closed and will be reset"}
            obs.append(o)
            rewards[i], terms[i], truncs[i] = r, te, tr
            infos = self._add_info(infos, info, i)
        self._needs_reset = terms | truncs
        return tuple(obs), rewards, terms, truncs, infos

    def _recover(self, i: int, fut: cf.Future) -> Any:
        env = self.envs[i]
        try:
            env.close()  # kills its sandbox, which unblocks a hung step
            fut.exception(timeout=30)
        except Exception:  # noqa: BLE001
            pass
        self.envs[i] = self.env_fns[i]()
        return list(getattr(env, "messages", []))

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple:
        futs = [self._pool.submit(lambda e: (getattr(e, name)(*args, **kwargs) if callable(getattr(e, name))
                                             else getattr(e, name)), env) for env in self.envs]
        return tuple(f.result() for f in futs)

    def render(self) -> tuple | None:
        return tuple(env.render() for env in self.envs)

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()
        self._pool.shutdown(wait=True)


def make_vector(entry_point: str, num_envs: int = 1, *, max_workers: int | None = None,
                step_timeout: float | None = None,
                wrap: Callable[[gym.Env], gym.Env] | Sequence[Callable[[gym.Env], gym.Env]] | None = None,
                **env_kwargs: Any) -> ClawVectorEnv:
    """``gym.make_vec`` entry point: ``num_envs`` copies of the env at ``entry_point`` ("module:Class").

    ``wrap`` (a callable or a list of them, applied in order) wraps each sub-env, e.g.
    ``gym.make_vec("claw/Terminal-v0", 4, wrap=lambda env: PRMReward(env, judge))``: Gymnasium's own
    ``wrappers=`` argument is refused for envs with a vector entry point, so claw envs take ``wrap=``."""
    from gymnasium.envs.registration import load_env_creator

    creator = load_env_creator(entry_point)
    wrappers = [] if wrap is None else [wrap] if callable(wrap) else list(wrap)

    def make() -> gym.Env:
        env = creator(**env_kwargs)
        for w in wrappers:
            env = w(env)
        return env

    return ClawVectorEnv([make for _ in range(num_envs)], max_workers=max_workers, step_timeout=step_timeout)
