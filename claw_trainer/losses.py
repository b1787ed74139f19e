"""Policy losses: the asymmetric clipped surrogate, k3 KL, truncated importance sampling, top-K OPD.

Every per-token quantity is averaged over the tokens with ``mask == 1`` only (masked tokens never count).
"""

from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp(min=1.0)


def tis_weights(logp_old: torch.Tensor, logp_sampler: torch.Tensor, cap: float = 2.0) -> torch.Tensor:
    """Truncated importance weights min(π_old / π_sampler, cap) against the sampler's log-probs."""
    return torch.exp(logp_old - logp_sampler).clamp(max=cap).detach()


def k3_kl(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(π || π_ref): exp(ref − logp) − (ref − logp) − 1 (always ≥ 0)."""
    d = logp_ref - logp
    return torch.exp(d) - d - 1.0


def clipped_surrogate(logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor,
                      eps_low: float = 0.2, eps_high: float = 0.28, logp_ref: torch.Tensor | None = None,
                      beta: float = 0.0, logp_sampler: torch.Tensor | None = None,
                      tis_cap: float = 2.0) -> tuple[torch.Tensor, dict[str, float]]:
    """L = −mean_t[ w_t · min(ρ_t A_t, clip(ρ_t, 1 − ε_low, 1 + ε_high) A_t) ] + β · mean_t[k3_t].

    ρ_t = exp(logp − logp_old); w_t = TIS weight against the sampler (1 without ``logp_sampler``);
    ``adv`` is per token ``(B, T)`` or per turn ``(B,)``. Returns the loss and diagnostics.
    """
    if adv.dim() == 1:
        adv = adv[:, None].expand_as(logp)
    ratio = torch.exp(logp - logp_old)
    clipped = ratio.clamp(1.0 - eps_low, 1.0 + eps_high)
    per_token = -torch.minimum(ratio * adv, clipped * adv)
    if logp_sampler is not None:
        per_token = per_token * tis_weights(logp_old, logp_sampler, tis_cap)
    loss = masked_mean(per_token, mask)
    stats = {"clip_frac": masked_mean(((ratio - clipped).abs() > 0).float(), mask).item()}
    if logp_ref is not None and beta:
        kl = masked_mean(k3_kl(logp, logp_ref), mask)
        loss = loss + beta * kl
        stats["kl"] = kl.item()
    return loss, stats


def topk_reverse_kl(student_topk_logp: torch.Tensor, teacher_topk_logp: torch.Tensor,
                    mask: torch.Tensor) -> torch.Tensor:
    """Reverse KL(π_student || π_teacher) over the teacher's top-K tokens plus one tail bin, token-averaged.

    ``student_topk_logp`` (B, T, K): the student's log-probs of the teacher's top-K ids (gathered from its full
    log-softmax); ``teacher_topk_logp`` (B, T, K). The tail bin holds the mass outside the K tokens: 1 − Σ_k p.
    """
    s_top = student_topk_logp.float()
    tail_s = torch.log1p(-s_top.exp().sum(-1).clamp(max=1 - 1e-6))
    tail_t = torch.log1p(-teacher_topk_logp.exp().sum(-1).clamp(max=1 - 1e-6))
    s_all = torch.cat([s_top, tail_s[..., None]], -1)
    t_all = torch.cat([teacher_topk_logp.float(), tail_t[..., None]], -1)
    kl = (s_all.exp() * (s_all - t_all)).sum(-1)
    return masked_mean(kl, mask)
