"""``gate.*``: the publish gate's configuration (validated here; the learner-dependent check is
:meth:`GateConfig.check_staleness`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from claw_envs.core.errors import ConfigError

METRICS = ("return", "success")
DEFAULT_PROBES = ("Say hello.", "What is 2 + 3?", "Name a colour.", "List three fruits.")


@dataclass
class GateConfig:
    """``gate.*`` keys. ``suite``: ``{env: id, kwargs: {...}, seeds: [...]}`` or ``{env, episodes, seed}``.

    Acceptance (:mod:`claw_trainer.gate.decision`): a candidate is published only if it is shown, at one-sided
    level ``alpha``, to be no worse than the last published version by more than ``delta``; its mean is within
    ``delta`` of the base version's; and its drift KL to the base is at most ``max_drift_kl``.
    """

    enabled: bool = False
    suite: dict[str, Any] = field(default_factory=dict)
    metric: str = "return"  # return (sum of the env's rewards) | success (return > 0: a binary suite)
    delta: float = 0.05  # non-inferiority margin, versus the last published version and versus the base
    alpha: float = 0.05  # one-sided level of the non-inferiority test (the chance of passing a δ-worse candidate)
    max_drift_kl: float = 1.0  # cap on KL(candidate ‖ base) per probe token, in nats (0 = no cap)
    every: int = 1  # evaluate every N-th version (must be ≤ the learner's max_staleness); the others are never served
    keep: int = 3  # published versions kept on disk (besides the base)
    temperature: float = 0.0  # suite sampling temperature (0 = greedy: deterministic decisions)
    sample_seed: int = 0  # torch seed before each suite run when temperature > 0 (common random numbers)
    max_new_tokens: int = 0  # 0 = the served policy's
    probes: list[str] = field(default_factory=lambda: list(DEFAULT_PROBES))  # drift probe prompts
    probe_tokens: int = 16

    def seeds(self) -> list[int]:
        s = self.suite
        if "seeds" in s:
            return [int(x) for x in s["seeds"]]
        return list(range(int(s.get("seed", 0)), int(s.get("seed", 0)) + int(s.get("episodes", 0))))

    def validate(self) -> GateConfig:
        unknown = set(self.suite) - {"env", "kwargs", "seeds", "episodes", "seed", "num_envs"}
        if unknown:
            raise ConfigError(f"gate.suite: unknown keys {sorted(unknown)}; valid: env, kwargs, seeds | episodes "
                              "+ seed, num_envs")
        if not self.suite.get("env"):
            raise ConfigError("gate.suite.env is required: a registered env id (e.g. claw/Chat-v0) or module:Class")
        if not self.seeds():
            raise ConfigError("gate.suite needs seeds: [..] or episodes: N (held-out episodes to score)")
        if self.metric not in METRICS:
            raise ConfigError(f"gate.metric must be one of {', '.join(METRICS)}; got {self.metric!r}")
        if self.every < 1 or self.keep < 1:
            raise ConfigError(f"gate.every and gate.keep must be ≥ 1; got every={self.every}, keep={self.keep}")
        if self.delta < 0 or self.max_drift_kl < 0:
            raise ConfigError(f"gate.delta and gate.max_drift_kl must be ≥ 0; got {self.delta}, {self.max_drift_kl}")
        if not 0 < self.alpha < 0.5:
            raise ConfigError(f"gate.alpha is a one-sided test level in (0, 0.5), e.g. 0.05; got {self.alpha}")
        return self

    def check_staleness(self, max_staleness: int) -> None:
        """Refuse ``gate.every > max_staleness``: the learner could never reach the next candidate, because the
        turns of the served version would all be too stale to train on before it does (learning would stop)."""
        if self.every > max_staleness:
            raise ConfigError(f"gate.every={self.every} exceeds the learner's max_staleness={max_staleness}: the "
                              f"learner stops stepping once it is {max_staleness + 1} steps past the served "
                              "version, before it reaches the next candidate. Set gate.every ≤ max_staleness "
                              f"(e.g. --gate.every {max(1, max_staleness)}) or raise --max-staleness.")

    def min_binary_episodes(self) -> int:
        """The fewest episodes with which an exact tie (no episode won or lost) can pass a binary suite:
        (1 − δ)^n ≤ α (see :func:`claw_trainer.gate.decision.paired_binary_p_value`)."""
        if self.delta >= 1:
            return 1
        if self.delta <= 0:
            return 1 << 30  # a tie can never show non-inferiority without a margin
        return math.ceil(math.log(self.alpha) / math.log(1 - self.delta))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GateConfig:
        names = set(cls.__dataclass_fields__)
        bad = set(d) - names
        if bad:
            raise ConfigError(f"gate: unknown keys {sorted(bad)}; valid keys: {', '.join(sorted(names))}")
        return cls(**d)
