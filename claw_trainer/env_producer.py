"""The env-hosting loop of ``claw train --async``: episodes in a vector env, sampled from the served weights.

Runs rounds of grouped episodes (the seeds of :func:`~claw_trainer.rollout.group_seeds`, as
:class:`~claw_trainer.source.EnvRollouts`) with whatever weights are being served at the time, writes each
round to the turn store in one transaction as one credit group (its turns keep the env's own reward channels;
the learner credits whole episodes and GRPO groups with :func:`~claw_trainer.credit.score_episodes`, as the
sync driver does) and notifies the judge loop. It never waits for training. The round and episode counters
are stored with the round, so a restarted producer continues with new tasks and new episode numbers.

A round that raises (an env or sampler failure) is counted and shown as the ``env`` loop's last error in
``/health``; the loop retries with a growing pause, and after ``max_failures`` consecutive failed rounds it
stops as dead, so ``claw train --async`` fails loudly instead of waiting for turns that never come.
"""

from __future__ import annotations

import threading
from typing import Any

from claw_trainer.rollout import collect_episodes, group_seeds
from claw_trainer.serving.health import LoopHealth


class EnvProducer:
    def __init__(self, vec_env: Any, policy: Any, store: Any, notify: Any, group_size: int = 1, seed: int = 0,
                 env_id: str = "", health: LoopHealth | None = None, max_failures: int = 5):
        self.vec_env, self.policy, self.store, self.notify = vec_env, policy, store, notify
        self.group_size, self.seed, self.env_id = group_size, seed, env_id
        self.rounds = store.get_meta("producer_rounds", 0)
        self.episodes = store.get_meta("producer_episodes", 0)
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self.health, self.max_failures = health or LoopHealth(), max_failures
        self.health.register("env")

    def round(self) -> list[int]:
        """Collect one round and record it; returns the recorded turn ids."""
        n = self.vec_env.num_envs
        seeds = group_seeds(self.seed, self.rounds, n, self.group_size)
        episodes = collect_episodes(self.vec_env, _Batch(self.policy), seeds, self.env_id, self.episodes)
        turns = [t for ep in episodes for t in ep]
        ids = self.store.record_group(turns, f"round-{self.rounds}", [f"episode-{t.episode}" for t in turns],
                                      meta={"producer_rounds": self.rounds + 1, "producer_episodes": self.episodes + n})
        self.rounds += 1
        self.episodes += n
        for i in ids:
            self.notify(i)
        return ids

    def _loop(self) -> None:
        failures = 0
        while not self.stop_event.is_set():
            try:
                self.round()
                failures = 0
            except Exception as e:
                failures += 1
                self.health.error("env", f"round {self.rounds}", e)
                if failures >= self.max_failures:
                    raise
                self.stop_event.wait(min(30.0, 0.5 * 2 ** failures))
            self.health.beat("env")

    def start(self) -> EnvProducer:
        self._thread = threading.Thread(target=self.health.run, args=("env", self._loop), name="claw-env",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self._thread:
            self._thread.join(timeout=120)


class _Batch:
    """Adapts :class:`~claw_trainer.serving.policy.ServedPolicy` to the batched ``sample`` rollouts call."""

    def __init__(self, served: Any):
        self.served = served

    @property
    def version(self) -> int:
        return self.served.version

    def sample(self, observations: list, tools: list | None = None) -> list:
        return self.served.sample_batch(observations, tools)
