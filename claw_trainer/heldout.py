"""Held-out evaluation around a training run: before/after scores, a noise baseline and a computed verdict.

Contract (``eval.*`` config keys):

* The held-out episodes are reset with seeds ``eval.seed + i`` (i < ``eval.episodes``), a range disjoint from
  the training rounds' seeds; :func:`overlap` also counts any task id the training episodes shared with them,
  and the report prints that count.
* Each episode is scored by the env's own outcome (``eval.metric``: ``return`` = sum of the env rewards,
  ``success`` = return > 0) — never by a PRM judge. ``eval.kwargs`` override ``env.kwargs`` for evaluation
  (e.g. Chat-v0 ``{max_steps: 1, reward: first}`` scores the first reply only).
* Sampling uses ``train.temperature`` with the torch RNG seeded by ``eval.sample_seed``: the same episodes and
  sampling seed before and after training, so the comparison is paired. The *noise baseline* re-evaluates
  the starting model with ``eval.sample_seed + 1``: what sampling alone moves the score by.
* :func:`verdict` says in words whether the change exceeds the noise: yes iff the 95 % paired-bootstrap CI of
  (after − before) excludes 0 and the mean change lies beyond the noise baseline's 95 % CI.
"""

from __future__ import annotations

import copy
import random
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from claw_envs.core.errors import ConfigError

METRICS = ("return", "success")


@dataclass(frozen=True)
class EvalScores:
    """Per-episode held-out scores of one model under one sampling seed."""

    label: str
    scores: tuple[float, ...]
    task_ids: tuple[str | None, ...]
    sample_seed: int
    wall_s: float

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean": self.mean, "ci95": list(bootstrap_ci(self.scores))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalScores:
        return cls(d["label"], tuple(d["scores"]), tuple(d["task_ids"]), int(d["sample_seed"]), float(d["wall_s"]))


def bootstrap_ci(values: list[float] | tuple[float, ...], n: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (resampling episodes with replacement)."""
    vals = list(values)
    if not vals:
        return float("nan"), float("nan")
    rng = random.Random(seed)
    k = len(vals)
    means = sorted(sum(rng.choices(vals, k=k)) / k for _ in range(n))
    lo = means[int((1 - level) / 2 * (n - 1))]
    hi = means[int((1 + level) / 2 * (n - 1))]
    return lo, hi


def paired_diff(a: EvalScores, b: EvalScores) -> dict[str, Any]:
    """Mean of (b − a) over the shared episodes and its 95 % paired-bootstrap CI."""
    if len(a.scores) != len(b.scores) or a.task_ids != b.task_ids:
        raise ValueError("paired comparison needs the same held-out episodes in the same order")
    d = [y - x for x, y in zip(a.scores, b.scores, strict=True)]
    lo, hi = bootstrap_ci(d)
    return {"delta": statistics.fmean(d) if d else float("nan"), "ci95": [lo, hi]}


def verdict(before: EvalScores, after: EvalScores, noise: EvalScores | None) -> dict[str, Any]:
    """Paired change, noise baseline and the sentence saying whether the change exceeds the noise."""
    change = paired_diff(before, after)
    out: dict[str, Any] = {"change": change}
    lo, hi = change["ci95"]
    delta = change["delta"]
    sig = lo > 0 or hi < 0
    text = (f"The held-out score went from {before.mean:.3f} to {after.mean:.3f} ({delta:+.3f}, 95% paired "
            f"bootstrap CI {lo:+.3f} to {hi:+.3f}, {len(before.scores)} episodes)")
    beyond_noise = True
    if noise is not None:
        nd = paired_diff(before, noise)
        out["noise"] = nd
        nlo, nhi = nd["ci95"]
        beyond_noise = delta > nhi if delta >= 0 else delta < nlo
        text += (f"; re-sampling the untrained model with another seed moved it by {nd['delta']:+.3f} "
                 f"(95% CI {nlo:+.3f} to {nhi:+.3f})")
    exceeds = sig and beyond_noise
    direction = "rise" if delta > 0 else "drop"
    text += (f", so the {direction} exceeds the noise." if exceeds else
             ", so the change is within the noise: not a measured improvement.")
    out.update(exceeds_noise=exceeds, sentence=text)
    return out


def eval_config(cfg: Any) -> Any:
    """A copy of ``cfg`` set up for held-out episodes: ``eval.kwargs`` over ``env.kwargs``, no judge."""
    if cfg.eval.metric not in METRICS:
        raise ConfigError(f"eval.metric must be one of {', '.join(METRICS)}; got {cfg.eval.metric!r}")
    c = copy.deepcopy(cfg)
    c.env.kwargs = {**c.env.kwargs, **c.eval.kwargs}
    c.judge.backend = c.judge.hint = "none"
    c.env.num_envs = max(1, min(cfg.eval.num_envs or cfg.eval.episodes, cfg.eval.episodes or 1))
    c.env.group_size = 1  # every held-out episode is its own task
    return c


def evaluate(cfg: Any, model: Any, tokenizer: Any, label: str, sample_seed: int) -> EvalScores:
    """Score ``cfg.eval.episodes`` held-out episodes with ``model`` (see the module doc)."""
    import torch

    from claw_trainer.credit import episode_return
    from claw_trainer.policy.hf import HFPolicy
    from claw_trainer.rollout import collect_episodes
    from claw_trainer.run import make_vec_env

    c = eval_config(cfg)
    n_eps = cfg.eval.episodes
    vec = make_vec_env(c, judges=(None, None))
    policy = HFPolicy(model, tokenizer, cfg.train.max_new_tokens, cfg.train.temperature)
    t0 = time.time()
    was_training = getattr(model, "training", False)
    model.eval()
    torch.manual_seed(sample_seed)
    episodes: list[list[Any]] = []
    try:
        n = vec.num_envs
        while len(episodes) < n_eps:
            seeds = [cfg.eval.seed + len(episodes) + i for i in range(n)]
            episodes += collect_episodes(vec, policy, seeds, c.env.id, first_episode=len(episodes))
    finally:
        vec.close()
        if was_training:
            model.train()
    episodes = episodes[:n_eps]
    returns = [episode_return(ep) for ep in episodes]
    scores = tuple(float(r > 0) if cfg.eval.metric == "success" else float(r) for r in returns)
    return EvalScores(label, scores, tuple(ep[0].task_id if ep else None for ep in episodes), sample_seed,
                      time.time() - t0)


def overlap(eval_task_ids: tuple[str | None, ...], train_task_ids: set[str]) -> int:
    """How many held-out episodes have a task id that some training episode also had."""
    return sum(1 for t in eval_task_ids if t is not None and t in train_task_ids)


def train_task_ids(path: Any) -> set[str]:
    """Task ids of the kept training samples (``judged`` or ``trained``) in a run's turn store; ``path`` is the
    run folder or its ``turns.sqlite``. Read-only: the store is neither locked nor changed
    (see :func:`claw_trainer.store.read_turns`)."""
    from claw_trainer.store import read_turns

    ids: set[str] = set()
    for row in read_turns(path, ("judged", "trained")):
        t = (row["turn"] or {}).get("task_id")
        if t is not None:
            ids.add(str(t))
    return ids


class HeldOutRun:
    """Before/after evaluation of one training run; results cached in ``<output_dir>/heldout.json``.

    ``before(model, tok)`` scores the starting model (and the noise baseline) — kept across ``--resume``, so
    the starting point stays the one the run began from; ``after(model, tok)`` scores the trained model and
    adds the verdict. ``log`` receives one human-readable line per evaluation.
    """

    def __init__(self, cfg: Any, output_dir: Any, log: Any = print):
        from pathlib import Path

        self.cfg, self.path, self.log = cfg, Path(output_dir) / "heldout.json", log
        self.results: dict[str, Any] = {}

    def _save(self) -> None:
        import json

        self.path.write_text(json.dumps(self.results, indent=1))

    def _line(self, s: EvalScores) -> None:
        lo, hi = bootstrap_ci(s.scores)
        self.log(f"held-out {s.label}: {self.cfg.eval.metric} {s.mean:.3f} (95% CI {lo:.3f}–{hi:.3f}, "
                 f"{len(s.scores)} episodes, sampling seed {s.sample_seed}, {s.wall_s:.0f} s)")

    def before(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        import json

        if self.path.is_file():
            self.results = json.loads(self.path.read_text())
            if "before" in self.results:
                self.log("held-out before/noise: reused from " + str(self.path))
                return self.results
        e = self.cfg.eval
        b = evaluate(self.cfg, model, tokenizer, "before", e.sample_seed)
        self._line(b)
        self.results = {"metric": e.metric, "episodes": e.episodes, "env_kwargs": eval_config(self.cfg).env.kwargs,
                        "before": b.as_dict()}
        if e.noise:
            n = evaluate(self.cfg, model, tokenizer, "noise (untrained, other seed)", e.sample_seed + 1)
            self._line(n)
            self.results["noise"] = n.as_dict()
        self._save()
        return self.results

    def after(self, model: Any, tokenizer: Any, train_task_ids: set[str] | None = None) -> dict[str, Any]:
        e = self.cfg.eval
        a = evaluate(self.cfg, model, tokenizer, "after", e.sample_seed)
        self._line(a)
        before = EvalScores.from_dict(self.results["before"])
        noise = EvalScores.from_dict(self.results["noise"]) if "noise" in self.results else None
        self.results["after"] = a.as_dict()
        self.results["verdict"] = verdict(before, a, noise)
        self.results["train_overlap"] = overlap(a.task_ids, train_task_ids or set())
        self._save()
        return self.results
