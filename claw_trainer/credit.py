"""Credit assignment: turn finished episodes into training samples for the configured loss.

The evaluative signal of a turn is its PRM vote (``reward_channels["process"]``) when a judge ran, else
its episode's return (the sum of the env's rewards). The directive signal is its hint. Per loss:

* ``binary_rl`` — ``a_rl`` = the score, GRPO-normalised within the task's group (turn votes per turn,
  returns per episode) or raw (``group_norm: false``). Turns whose advantage is exactly 0 carry no
  gradient and are dropped (dynamic sampling), so they do not count toward the batch. A group with a
  single informative member normalises to 0: such turns are counted as ``alone`` (``group_norm`` on groups
  of one learns nothing, which the async driver reports).
* ``step_wise`` — PRM step score + episode outcome, z-scored within (task, step index); constant buckets
  dropped (:func:`claw_trainer.advantages.step_wise`).
* ``opd`` / ``topk_opd`` — turns with a hint; the rest are dropped.
* ``combine`` — turns with a hint or a non-zero RL advantage; each keeps only the terms it has.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch

from claw_trainer.advantages import binary_rl, grpo_normalize, step_wise
from claw_trainer.rollout import Turn


@dataclass
class TrainSample:
    """A turn ready for the trainer: its tokens plus the per-turn RL advantage and which terms apply."""

    turn: Turn
    a_rl: float
    has_score: bool
    has_hint: bool

    def to_json(self) -> dict[str, Any]:
        return {"turn": self.turn.to_json(), "a_rl": self.a_rl, "has_score": self.has_score,
                "has_hint": self.has_hint}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TrainSample:
        return cls(Turn.from_json(d["turn"]), float(d["a_rl"]), bool(d["has_score"]), bool(d["has_hint"]))


def episode_return(episode: list[Turn]) -> float:
    return float(sum(t.reward_channels.get("outcome", t.reward) for t in episode))


def score_episodes(episodes: list[list[Turn]], loss: str, group_norm: bool = True
                   ) -> tuple[list[TrainSample], Counter]:
    """(kept samples in turn order, counts: turns / kept / dropped / hinted / judged / env_errors / alone).

    Both drivers call this on whole groups: the sync driver on each collection round, the async driver
    (:class:`~claw_trainer.async_loops.AsyncLoops`) on each env round once all its turns are judged, and on
    live turns one by one (personal-agent credit) or in prompt groups (``method.live_groups``).

    An episode in which the env raised or timed out (a turn with ``error``) is dropped whole and counted as
    ``env_errors``: a crash is not an outcome, so it never earns an advantage nor shifts its group's baseline.
    With PRM votes, the group mean/std are taken over the informative votes only (±1; no valid vote and ties
    are excluded from the loss, so they are excluded from the baseline too).
    """
    episodes = [ep for ep in episodes if ep]
    broken = [ep for ep in episodes if any(t.error for t in ep)]
    episodes = [ep for ep in episodes if not any(t.error for t in ep)]
    turns = [t for ep in episodes for t in ep]
    counts: Counter = Counter(turns=len(turns), episodes=len(episodes))
    if broken:
        n = sum(len(ep) for ep in broken)
        counts.update(env_errors=len(broken), turns=n, dropped=n)
    if not turns:
        return [], counts
    process = [t.reward_channels.get("process") for t in turns]
    judged = any(p is not None for p in process)
    has_hint = [bool(t.hint) for t in turns]
    if loss == "step_wise":
        outcomes = torch.tensor([episode_return(ep) for ep in episodes for _ in ep])
        steps = torch.tensor([float(p or 0.0) for p in process])
        adv, keep_t = step_wise(steps, outcomes, [t.task_id for t in turns], [t.step for t in turns])
        a_rl, has_score, keep = adv.tolist(), keep_t.tolist(), keep_t.tolist()
    else:
        if judged:  # a PRM vote per turn; the baseline is over informative votes only
            valid = [p is not None and float(p) != 0.0 for p in process]
            a_rl = [0.0] * len(turns)
            idx = [i for i, v in enumerate(valid) if v]
            if idx:
                scores = torch.tensor([float(process[i]) for i in idx])
                groups = [turns[i].task_id for i in idx]
                a = binary_rl(scores, groups if group_norm else None)
                if group_norm:
                    counts.update(alone=sum(1 for g in groups if groups.count(g) == 1))
                for k, i in enumerate(idx):
                    a_rl[i] = float(a[k])
            has_score = valid
        else:  # the episode's return, normalised across the group's episodes, broadcast to its turns
            returns = torch.tensor([episode_return(ep) for ep in episodes])
            keys = [ep[0].task_id for ep in episodes]
            a_ep = grpo_normalize(returns, keys) if group_norm else returns
            if group_norm:
                counts.update(alone=sum(len(ep) for ep, k in zip(episodes, keys, strict=True) if keys.count(k) == 1))
            a_rl = [float(a_ep[e]) for e, ep in enumerate(episodes) for _ in ep]
            has_score = [True] * len(turns)
        informative = [s and v != 0.0 for s, v in zip(has_score, a_rl, strict=True)]
        if loss == "binary_rl":
            keep = informative
        elif loss in ("opd", "topk_opd"):
            keep = has_hint
        else:  # combine
            keep = [i or h for i, h in zip(informative, has_hint, strict=True)]
        has_score = informative
    samples = [TrainSample(t, float(a_rl[i]), bool(has_score[i]), has_hint[i])
               for i, t in enumerate(turns) if keep[i]]
    counts.update(kept=len(samples), dropped=len(turns) - len(samples), hinted=sum(has_hint),
                  judged=sum(p is not None for p in process))
    return samples, counts
