"""The collapse guard: stop or soften a run whose policy entropy and KL rise while its reward falls.

OPD runs can collapse (entropy and KL up, reward down) or learn to hesitate. :class:`Guard` watches each step's
diagnostics (``core.prepare_batch`` computes them with ``method.diagnostics``) over ``method.guard_window``
steps and, with ``method.guard``, warns, lowers ``w_opd`` or stops the run (:class:`GuardStop`). Both drivers
keep one; the async driver halts learning on a stop and keeps serving.
"""

from __future__ import annotations

from typing import Any


class GuardStop(RuntimeError):
    """Raised by :class:`Guard` with ``method.guard: stop``."""


def _slope(xs: list[float]) -> float:
    n = len(xs)
    mx = (n - 1) / 2
    return sum((i - mx) * (x - sum(xs) / n) for i, x in enumerate(xs)) / max(sum((i - mx) ** 2 for i in range(n)), 1e-12)


class Guard:
    """Collapse guard over the last ``method.guard_window`` steps: flags when the policy entropy and its KL to
    the reference both rise (least-squares slope > 0) while the batch reward falls (slope < 0). Without a
    reference (no ``kl_ref`` metric) entropy and reward decide alone.

    ``warn`` logs a warning; ``reduce`` multiplies ``method.w_opd`` by ``method.guard_factor`` (from the next
    step on) and starts a new window; ``stop`` raises :class:`GuardStop`. Both drivers keep one and call
    :meth:`observe` with each step's metrics; it returns metrics to log (``guard_flag``, ``w_opd``)."""

    def __init__(self, method: Any):
        self.method = method
        self.history: list[tuple[float, float | None, float]] = []
        self.flags = 0

    def observe(self, metrics: dict[str, float]) -> dict[str, float]:
        m = self.method
        if getattr(m, "guard", "off") == "off":
            return {}
        ent, rew, kl = metrics.get("entropy"), metrics.get("batch_reward"), metrics.get("kl_ref")
        if ent is None or rew is None:
            return {"guard_flag": 0.0, "w_opd": float(m.w_opd)}
        self.history = (self.history + [(float(ent), None if kl is None else float(kl), float(rew))])[-m.guard_window:]
        flag = False
        if len(self.history) == m.guard_window:
            ents, kls, rews = zip(*self.history, strict=True)
            kl_up = _slope(list(kls)) > 0 if all(k is not None for k in kls) else True
            flag = _slope(list(ents)) > 0 and kl_up and _slope(list(rews)) < 0
        if flag:
            self.flags += 1
            msg = (f"collapse guard: over the last {m.guard_window} steps policy entropy rose "
                   f"{ents[0]:.3f} -> {ents[-1]:.3f}"
                   + (f", KL to the reference rose {kls[0]:.3f} -> {kls[-1]:.3f}" if kls[0] is not None else "")
                   + f" while the batch reward fell {rews[0]:+.3f} -> {rews[-1]:+.3f}")
            if m.guard == "stop":
                raise GuardStop(msg + ": stopping (method.guard=stop; lower method.w_opd, set method.opd_clip, "
                                      "or check the hints)")
            if m.guard == "reduce":
                m.w_opd = float(m.w_opd) * m.guard_factor
                msg += f": method.w_opd lowered to {m.w_opd:.4g}"
                self.history = []
            import logging

            logging.getLogger(__name__).warning(msg)
        return {"guard_flag": float(flag), "w_opd": float(m.w_opd)}
