"""The publish gate's acceptance rule, on paired per-episode suite scores (same episodes, same seeds).

A candidate is **published** iff all three checks pass (:func:`decide`):

1. **Step** (non-inferiority to the last published version *L*). With paired differences ``d_i = c_i − l_i``
   the null hypothesis is "the candidate is worse by at least δ", H0: E[d] ≤ −δ, against H1: E[d] > −δ; the
   candidate passes only if H0 is rejected at one-sided level α (the burden of proof is on the candidate):

   * binary suites (``metric: success`` or every score 0/1): the exact test of
     :func:`paired_binary_p_value` on the numbers of episodes won and lost against *L*;
   * other suites: the lower one-sided (1 − α) Student-t confidence bound of mean(d) must exceed −δ,
     ``mean(d) − t_{1−α, n−1} · sd(d)/√n > −δ`` (:func:`t_quantile`; with one episode, or no variation, the bound
     is the mean itself: greedy suites are deterministic).

2. **Base bound**: ``mean(candidate − base) ≥ −δ`` against the first version ever served. Small regressions,
   each within δ of the last published version, cannot accumulate beyond δ.

3. **Drift cap**: ``KL(candidate ‖ base) ≤ max_drift_kl`` (mean nats per probe token; 0 disables the cap).

On a binary suite a tie (no episode won or lost) can only pass when ``(1 − δ)^n ≤ α``
(:meth:`~claw_trainer.gate.config.GateConfig.min_binary_episodes`, 59 episodes for δ = 0.05, α = 0.05): with
fewer, only candidates that win episodes are published. That is what a sound test can say with so few episodes.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np


def binary_order(wins: np.ndarray, losses: np.ndarray, n: int, delta: float) -> np.ndarray:
    """The test's ordering of outcomes (larger = more evidence against H0):
    ``Z = (W − L + nδ) / sqrt(W + L + 1)``, the margin-shifted difference over its discordance, so that few
    discordant episodes count as more evidence than many balanced ones (a tie ranks above 8 won + 8 lost)."""
    return (wins - losses + n * delta) / np.sqrt(wins + losses + 1.0)


def paired_binary_p_value(wins: int, losses: int, n: int, delta: float, grid: int = 48) -> float:
    """Exact one-sided p-value of H0: ``p_win − p_loss ≤ −δ`` from ``n`` paired binary outcomes.

    ``wins``: episodes the candidate solved and the reference did not; ``losses``: the reverse; the other
    ``n − wins − losses`` are ties. Per episode the pair is a win, a loss or a tie with probabilities
    ``(p_w, p_l, 1 − p_w − p_l)``, so ``(W, L)`` is trinomial, and

        p = sup_{p_l − p_w ≥ δ} P(Z(W, L) ≥ Z(wins, losses))

    with the ordering ``Z`` of :func:`binary_order` — an unconditional exact test (Barnard's construction: the
    nuisance parameter is maximised out, so the test keeps its level whatever the tie rate). The supremum runs
    over the whole null region ``{p_w ≥ 0, p_l ≥ p_w + δ, p_w + p_l ≤ 1}`` on a ``grid × grid`` lattice, refined
    around its maximum. Reject H0 (the candidate passes) iff ``p ≤ α``.

    No valid test can pass a tie (no episode won or lost) unless ``(1 − δ)^n ≤ α``: at ``p_w = 0, p_l = δ`` a
    tie has probability ``(1 − δ)^n``. Examples (n = 16): 13/16 against 16/16 (0 won, 3 lost) gives p ≈ 0.99
    for any δ ≤ 0.1; a tie gives p ≈ 0.44 at δ = 0.05 and p ≈ 0.03 at δ = 0.2; 8 won, 0 lost gives p ≈ 0.001 at δ = 0.05.
    """
    if not (0 <= wins and 0 <= losses and wins + losses <= n):
        raise ValueError(f"need 0 ≤ wins, losses and wins + losses ≤ n; got {wins}, {losses}, {n}")
    if delta >= 1:
        return 0.0  # H0 is p_loss = 1: any episode not lost rejects it
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = i + j <= n
    i, j = i[keep].astype(float), j[keep].astype(float)
    extreme = binary_order(i, j, n, delta) >= binary_order(np.float64(wins), np.float64(losses), n, delta) - 1e-12
    i, j = i[extreme], j[extreme]
    k = n - i - j
    lg = np.vectorize(math.lgamma)
    log_coef = math.lgamma(n + 1) - lg(i + 1) - lg(j + 1) - lg(k + 1)

    def prob(pw: np.ndarray, pl: np.ndarray) -> np.ndarray:
        """P(extreme) at each nuisance point (pw[m], pl[m])."""
        pt = np.clip(1.0 - pw - pl, 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = (np.where(i[:, None] > 0, i[:, None] * np.log(pw[None, :]), 0.0)
                    + np.where(j[:, None] > 0, j[:, None] * np.log(pl[None, :]), 0.0)
                    + np.where(k[:, None] > 0, k[:, None] * np.log(pt[None, :]), 0.0))
        return np.exp(log_coef[:, None] + logs).sum(axis=0)

    def lattice(w0: float, w1: float, u0: float, u1: float) -> tuple[np.ndarray, np.ndarray]:
        """Points (p_w, p_l) of the null region with p_w in [w0, w1] and p_l = p_w + δ + u·(1 − 2p_w − δ),
        u in [u0, u1] (u = 0: the boundary p_l − p_w = δ; u = 1: no ties)."""
        w, u = np.meshgrid(np.linspace(w0, w1, grid), np.linspace(u0, u1, grid), indexing="ij")
        w = w.ravel()
        return w, w + delta + u.ravel() * np.clip(1.0 - 2 * w - delta, 0.0, 1.0)

    top = (1.0 - delta) / 2
    best, where = 0.0, (0.0, 0.0)
    pw, pl = lattice(0.0, top, 0.0, 1.0)
    for s in range(0, len(pw), 512):
        ps = prob(pw[s:s + 512], pl[s:s + 512])
        m = int(np.argmax(ps))
        if ps[m] > best:
            best, where = float(ps[m]), (float(pw[s + m]), float(pl[s + m]))
    w, span = where[0], top / (grid - 1)
    u = (where[1] - w - delta) / max(1.0 - 2 * w - delta, 1e-12)
    du = 1.0 / (grid - 1)
    pw, pl = lattice(max(0.0, w - span), min(top, w + span), max(0.0, u - du), min(1.0, u + du))
    return float(min(1.0, max(best, prob(pw, pl).max())))


def t_quantile(p: float, df: int) -> float:
    """Student-t quantile: exact for 1 and 2 degrees of freedom, else the Cornish–Fisher expansion in 1/ν
    (Abramowitz & Stegun 26.7.5; error < 1e-3 for ν ≥ 3 at the levels a gate uses)."""
    if df < 1:
        raise ValueError("df must be ≥ 1")
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = statistics.NormalDist().inv_cdf(p)
    g1 = (z ** 3 + z) / 4
    g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96
    g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384
    g4 = (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160
    return z + g1 / df + g2 / df ** 2 + g3 / df ** 3 + g4 / df ** 4


def is_binary(*score_lists: list[float]) -> bool:
    return all(x in (0.0, 1.0) for scores in score_lists for x in scores)


def step_test(cand: list[float], last: list[float], delta: float, alpha: float, binary: bool) -> dict[str, Any]:
    """Check 1 of the module docstring: the non-inferiority test of ``cand`` against ``last`` (paired)."""
    if len(cand) != len(last) or not cand:
        raise ValueError(f"paired scores needed: {len(cand)} candidate vs {len(last)} reference episodes")
    d = [c - b for c, b in zip(cand, last, strict=True)]
    mean, n = statistics.fmean(d), len(d)
    se = statistics.stdev(d) / math.sqrt(n) if n > 1 else 0.0
    out: dict[str, Any] = {"diff": mean, "diff_se": se, "delta": delta, "alpha": alpha, "n": n}
    if binary:
        wins = sum(1 for x in d if x > 0)
        losses = sum(1 for x in d if x < 0)
        p = paired_binary_p_value(wins, losses, n, delta)
        return {**out, "test": "exact paired binary", "wins": wins, "losses": losses, "p_value": p,
                "threshold": -delta, "passed": p <= alpha}
    lcb = mean - (t_quantile(1 - alpha, n - 1) * se if n > 1 else 0.0)
    return {**out, "test": "paired t lower bound", "lcb": lcb, "threshold": -delta, "passed": lcb > -delta or
            (delta == 0 and se == 0 and mean >= 0)}


def decide(cand: list[float], last: list[float], base: list[float], drift_kl: float | None, delta: float,
           alpha: float, max_drift_kl: float, binary: bool | None = None) -> dict[str, Any]:
    """All three checks of the module docstring; ``passed`` and, when it fails, ``reasons``."""
    binary = is_binary(cand, last, base) if binary is None else binary
    step = step_test(cand, last, delta, alpha, binary)
    diff_base = statistics.fmean(c - b for c, b in zip(cand, base, strict=True))
    checks = {"step": step["passed"], "base": diff_base >= -delta - 1e-12,
              "drift": not max_drift_kl or (drift_kl is not None and drift_kl <= max_drift_kl)}
    reasons = []
    if not checks["step"]:
        shown = (f"exact p = {step['p_value']:.3g} > α = {alpha} ({step['wins']} won, {step['losses']} lost of "
                 f"{step['n']})" if binary else f"lower bound {step['lcb']:+.3f} ≤ −δ = {-delta:+.3f}")
        reasons.append(f"not shown to be within δ = {delta} of the last published version: Δ {step['diff']:+.3f}, "
                       + shown)
    if not checks["base"]:
        reasons.append(f"mean(candidate − base) = {diff_base:+.3f} < −δ = {-delta:+.3f}")
    if not checks["drift"]:
        reasons.append(f"drift KL to the base {drift_kl} exceeds max_drift_kl = {max_drift_kl}")
    return {**step, "diff_base": diff_base, "drift_kl": drift_kl, "max_drift_kl": max_drift_kl, "checks": checks,
            "passed": all(checks.values()), "reasons": reasons}
