"""Where training samples come from: rounds of grouped episodes in a vector env, scored for the loss.

A round resets every sub-env — ``group_size`` consecutive sub-envs share a seed, hence a task — runs the
episodes to the end with the current weights (concurrently across sub-envs), and scores them
(:mod:`claw_trainer.credit`). Seeds follow ``(seed, round)``, so a run is reproducible and a resumed run
continues with new tasks instead of repeating old ones.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from claw_trainer.credit import TrainSample, episode_return, score_episodes
from claw_trainer.policy.hf import HFPolicy
from claw_trainer.rollout import Turn, collect_episodes, group_seeds


class EnvRollouts:
    def __init__(self, vec_env: Any, tokenizer: Any, loss: str, group_size: int = 4, group_norm: bool = True,
                 max_new_tokens: int = 128, temperature: float = 1.0, seed: int = 0, env_id: str = "",
                 max_prompt_tokens: int | None = None, policy: Any = None):
        if vec_env.num_envs % group_size:
            raise ValueError(f"group_size {group_size} must divide num_envs {vec_env.num_envs}")
        self.vec_env, self.tokenizer, self.loss = vec_env, tokenizer, loss
        self.group_size, self.group_norm = group_size, group_norm
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        self.seed, self.env_id, self.max_prompt_tokens = seed, env_id, max_prompt_tokens
        self.policy = policy  # an external sampler (e.g. OpenAIPolicy); None = sample with the trained model
        self.rounds = 0
        self.episodes = 0
        self.last_episodes: list[list[Turn]] = []

    def seeds(self, round_index: int) -> list[int]:
        return group_seeds(self.seed, round_index, self.vec_env.num_envs, self.group_size)

    def round(self, model: Any, version: int) -> tuple[list[TrainSample], dict[str, float]]:
        """Collect and score one round; returns kept samples and round metrics."""
        policy = self.policy or HFPolicy(model, self.tokenizer, self.max_new_tokens, self.temperature,
                                         version=version)
        if self.policy is not None:
            self.policy.version = version
        t0 = time.perf_counter()
        episodes = collect_episodes(self.vec_env, policy, self.seeds(self.rounds), self.env_id, self.episodes)
        elapsed = time.perf_counter() - t0
        self.rounds += 1
        self.episodes += len(episodes)
        self.last_episodes = episodes
        samples, counts = score_episodes(episodes, self.loss, self.group_norm)
        if self.max_prompt_tokens:
            long = [s for s in samples if len(s.turn.prompt_ids) > self.max_prompt_tokens]
            samples = [s for s in samples if len(s.turn.prompt_ids) <= self.max_prompt_tokens]
            counts.update(dropped=len(long), kept=-len(long), too_long=len(long))
        tokens = sum(len(t.completion_ids) for ep in episodes for t in ep)
        returns = [episode_return(ep) for ep in episodes if ep]  # the env outcome, not the judge's share
        votes = [t.reward_channels["process"] for ep in episodes for t in ep
                 if t.reward_channels.get("process") is not None]
        metrics = {"episode_return": sum(returns) / max(len(returns), 1),
                   **({"judge_vote_mean": sum(votes) / len(votes)} if votes else {}),
                   "success": sum(r > 0 for r in returns) / max(len(returns), 1),
                   "sample_tokens_per_s": tokens / elapsed if elapsed else 0.0, "rollout_s": elapsed,
                   **{f"turns_{k}": float(v) for k, v in counts.items()}}
        return samples, metrics

    @staticmethod
    def merge(rounds: list[dict[str, float]]) -> dict[str, float]:
        """Sum the counts and average the rates of several rounds."""
        out: Counter = Counter()
        for m in rounds:
            out.update(m)
        n = max(len(rounds), 1)
        return {k: (v if k.startswith("turns_") or k == "rollout_s" else v / n) for k, v in out.items()}
