"""Advantages, each a small function on tensors. Formulas match the README's "Loss modes" section.

Shapes: per-turn values are ``(B,)``; per-token values are ``(B, T)`` with a ``mask`` (1 = a completion
token that counts, 0 = padding / env tokens).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

EPS = 1e-6


def grpo_normalize(rewards: torch.Tensor, groups: Sequence) -> torch.Tensor:
    """(r − μ_g) / (σ_g + 1e-6) within each group g (population std); a lone member gets 0."""
    out = torch.zeros_like(rewards, dtype=torch.float32)
    index: dict = defaultdict(list)
    for i, g in enumerate(groups):
        index[g].append(i)
    for idx in index.values():
        r = rewards[idx].float()
        out[idx] = (r - r.mean()) / (r.std(unbiased=False) + EPS) if len(idx) > 1 else 0.0
    return out


def binary_rl(rewards: torch.Tensor, groups: Sequence | None = None) -> torch.Tensor:
    """Per-turn advantage: the reward itself (OpenClaw personal mode) or GRPO-normalised within groups."""
    return rewards.float() if groups is None else grpo_normalize(rewards, groups)


def step_wise(step_scores: torch.Tensor, outcomes: torch.Tensor, groups: Sequence,
              step_index: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step reward r = PRM step score + outcome, z-scored within (group, step index) buckets.

    A single-member bucket keeps its raw value; a bucket whose rewards are all equal is dropped (its
    steps get ``keep = False``) unless that would drop every step, in which case the first is kept.
    Returns ``(advantages, keep)``.
    """
    r = step_scores.float() + outcomes.float()
    adv = torch.zeros_like(r)
    keep = torch.ones_like(r, dtype=torch.bool)
    buckets: dict = defaultdict(list)
    for i, key in enumerate(zip(groups, step_index, strict=True)):
        buckets[key].append(i)
    for idx in buckets.values():
        v = r[idx]
        if len(idx) == 1:
            adv[idx] = v
        elif torch.all(v == v[0]):
            keep[idx] = False
        else:
            adv[idx] = (v - v.mean()) / (v.std(unbiased=False) + EPS)
    if not keep.any():
        keep[0] = True
        adv[0] = r[0]
    return adv, keep


def opd_gap(logp_teacher: torch.Tensor, logp_old: torch.Tensor, clip: float = 0.0) -> torch.Tensor:
    """logp_teacher − logp_old per token, clamped to [−clip, clip] when ``clip > 0`` (OpenClaw-RL v2's OPD clip)."""
    if logp_teacher.shape != logp_old.shape:
        raise ValueError(f"teacher and student log-probs must align token by token: {tuple(logp_teacher.shape)} "
                         f"vs {tuple(logp_old.shape)}")
    gap = logp_teacher - logp_old
    return gap.clamp(-clip, clip) if clip and clip > 0 else gap


def opd(logp_teacher: torch.Tensor, logp_old: torch.Tensor, mask: torch.Tensor, clip: float = 0.0) -> torch.Tensor:
    """Token advantage logp_teacher − logp_old (same token positions, clamped to ±``clip`` if > 0), zero where masked."""
    return opd_gap(logp_teacher, logp_old, clip) * mask


def combine(a_rl: torch.Tensor, has_score: torch.Tensor, logp_teacher: torch.Tensor, logp_old: torch.Tensor,
            has_hint: torch.Tensor, mask: torch.Tensor, w_rl: float = 1.0,
            w_opd: float = 1.0, clip: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A = w_opd·(logp_teacher − logp_old) + w_rl·A_rl, per token (the OPD gap clamped to ±``clip`` if > 0).

    ``a_rl`` is per turn ``(B,)`` and broadcast over the turn's tokens. A turn with neither a hint nor a ±1
    score is dropped (``keep = False``); a turn with only one of them keeps only that term — the other is
    exactly zero, not teacher/student mismatch noise. Returns ``(token advantages, keep)``.
    """
    has_score, has_hint = has_score.bool(), has_hint.bool()
    rl = w_rl * a_rl.float()[:, None] * has_score[:, None] * mask
    distill = torch.where(has_hint[:, None], w_opd * opd_gap(logp_teacher, logp_old, clip),
                          torch.zeros_like(logp_old)) * mask
    keep = has_score | has_hint
    return (rl + distill) * keep[:, None], keep


def for_loss(loss: str, a_rl: torch.Tensor, has_score: torch.Tensor, has_hint: torch.Tensor,
             logp_teacher: torch.Tensor, logp_old: torch.Tensor, mask: torch.Tensor, w_rl: float = 1.0,
             w_opd: float = 1.0, opd_clip: float = 0.0) -> torch.Tensor:
    """Token advantages (B, T) of a loss mode from per-turn RL advantages and teacher/old log-probs.

    ``binary_rl``/``step_wise`` broadcast ``a_rl``; ``opd`` uses hinted turns only; ``combine`` as
    :func:`combine`; ``topk_opd`` has no advantage (its loss is the top-K reverse KL). ``opd_clip > 0`` clamps
    each token's OPD gap (teacher − old) to [−opd_clip, opd_clip] before ``w_opd``.
    """
    if loss in ("binary_rl", "step_wise"):
        return a_rl.float()[:, None] * mask
    if loss == "opd":
        return opd(logp_teacher, logp_old, mask, opd_clip) * has_hint.bool()[:, None]
    if loss == "topk_opd":
        return torch.zeros_like(logp_old)
    return combine(a_rl, has_score, logp_teacher, logp_old, has_hint, mask, w_rl, w_opd, opd_clip)[0]
