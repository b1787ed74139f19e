"""Scoring weights for the gate: the suite's fixed episodes (one score per episode) and the drift probe."""

from __future__ import annotations

from typing import Any

from claw_envs.core.errors import ConfigError
from claw_trainer.gate.config import GateConfig


def make_env(env_id: str, kwargs: dict[str, Any] | None = None) -> Any:
    """A registered gymnasium id (claw ids are registered on import) or a ``module:Class`` entry point."""
    import gymnasium as gym

    import claw_envs  # noqa: F401  (registers the claw ids)

    if env_id in gym.registry:
        return gym.make(env_id, **(kwargs or {}))
    if ":" in env_id:
        from gymnasium.envs.registration import load_env_creator

        try:
            return load_env_creator(env_id)(**(kwargs or {}))
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"gate.suite.env {env_id!r}: cannot load it ({e})") from e
    raise ConfigError(f"gate.suite.env {env_id!r} is neither a registered env id nor a module:Class entry point")


class SuiteEvaluator:
    """Scores weights on the suite's fixed episodes: one float per episode (return, or success as 0/1)."""

    def __init__(self, cfg: GateConfig, template: Any, tokenizer: Any, max_new_tokens: int):
        import copy

        self.cfg, self.tokenizer = cfg, tokenizer
        self.model = copy.deepcopy(template).eval()  # the gate's own copy: serving's model is never touched
        self.max_new_tokens = cfg.max_new_tokens or max_new_tokens

    def scores(self, state: dict[str, Any]) -> list[float]:
        import torch

        from claw_envs.vector import ClawVectorEnv
        from claw_trainer.credit import episode_return
        from claw_trainer.policy.hf import HFPolicy
        from claw_trainer.rollout import collect_episodes

        self.model.load_state_dict(state)
        self.model.eval()
        seeds, suite = self.cfg.seeds(), self.cfg.suite
        n = max(1, min(int(suite.get("num_envs", 8)), len(seeds)))
        vec = ClawVectorEnv([lambda: make_env(suite["env"], suite.get("kwargs"))] * n)
        policy = HFPolicy(self.model, self.tokenizer, self.max_new_tokens, self.cfg.temperature)
        if self.cfg.temperature > 0:
            torch.manual_seed(self.cfg.sample_seed)
        out: list[float] = []
        try:
            for i in range(0, len(seeds), n):
                chunk = seeds[i:i + n]
                padded = chunk + [chunk[-1]] * (n - len(chunk))
                episodes = collect_episodes(vec, policy, padded, str(suite["env"]))[:len(chunk)]
                for ep in episodes:
                    r = episode_return(ep)
                    out.append(float(r > 0) if self.cfg.metric == "success" else float(r))
        finally:
            vec.close()
        return out


class DriftProbe:
    """KL(served ‖ base) on fixed probe completions sampled greedily from the base once."""

    def __init__(self, base: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int = 16):
        import torch

        from claw_trainer.policy.hf import HFPolicy

        samples = HFPolicy(base, tokenizer, max_new_tokens, 0.0).sample([[{"role": "user", "content": p}]
                                                                          for p in prompts]) if prompts else []
        self.seqs = [(list(s.prompt_ids), list(s.completion_ids)) for s in samples if s.completion_ids]
        with torch.no_grad():
            self.base_logp = [self._logp(base, p, c) for p, c in self.seqs]

    @staticmethod
    def _logp(model: Any, prompt: list[int], completion: list[int]) -> Any:
        import torch

        ids = torch.tensor([prompt + completion], device=model.device)
        logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1].float()
        return logits.log_softmax(-1)

    def kl(self, model: Any) -> float | None:
        import torch

        if not self.seqs:
            return None
        total, n = 0.0, 0
        with torch.no_grad():
            for (p, c), base in zip(self.seqs, self.base_logp, strict=True):
                lp = self._logp(model, p, c)
                total += float((lp.exp() * (lp - base)).sum(-1).sum())
                n += len(c)
        return total / max(n, 1)
