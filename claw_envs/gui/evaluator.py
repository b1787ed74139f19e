"""Score a GUI task the way OSWorld does.

1. run the evaluator's ``postconfig`` steps;
2. ``func == "infeasible"``: 1 when the agent's last action was FAIL, else 0; otherwise a last action of
   FAIL scores 0;
3. for each metric: fetch ``result`` (and ``expected``) with the getters, call
   ``metric(result, expected, **options)`` (or ``metric(result, **options)`` without ``expected``);
4. combine with ``conj``: ``and`` → 0 as soon as one metric scores 0, else the mean; ``or`` → 1 as soon as
   one scores 1, else the max (OSWorld's rule).

A getter or metric that raises scores that metric 0 and its error is reported in ``details``; a broken task
definition (``TaskError``) propagates so it is not mistaken for an agent failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from claw_envs.core.errors import ClawError, TaskError
from claw_envs.gui.getters import GetterEnv, getter
from claw_envs.gui.metrics import metric
from claw_envs.gui.setup_steps import run_steps


@dataclass(frozen=True)
class Evaluation:
    score: float
    details: tuple[dict[str, Any], ...] = field(default=())


def _as_list(v: Any, n: int) -> list:
    return list(v) if isinstance(v, list) else [v] * n


def evaluate(env: GetterEnv, last_action: str | None) -> Evaluation:
    task = env.task
    ev = task.evaluator
    run_steps(env.controller, task, tuple(ev.get("postconfig") or ()), "evaluator.postconfig", env.setup)
    funcs = ev["func"] if isinstance(ev["func"], list) else [ev["func"]]
    if funcs == ["infeasible"]:
        return Evaluation(float(last_action == "FAIL"), ({"func": "infeasible", "last_action": last_action},))
    if last_action == "FAIL":
        return Evaluation(0.0, ({"func": "fail", "note": "the agent declared the task infeasible"},))
    n = len(funcs)
    results = ev.get("result") if isinstance(ev["func"], list) else [ev.get("result")]
    expecteds = ev.get("expected") if isinstance(ev["func"], list) else [ev.get("expected")]
    options = ev.get("options") if isinstance(ev["func"], list) else [ev.get("options")]
    results, expecteds, options = _as_list(results, n), _as_list(expecteds, n), _as_list(options, n)
    conj = ev.get("conj", "and")
    scores, details = [], []
    for f, rc, ec, oc in zip(funcs, results, expecteds, options, strict=True):
        fn = metric(f)
        d: dict[str, Any] = {"func": f}
        try:
            result = getter(rc["type"])(env, rc) if rc else None
            d["result"] = _short(result)
            if ec:
                expected = getter(ec["type"])(env, ec)
                d["expected"] = _short(expected)
                s = float(fn(result, expected, **(oc or {}))) if result is not None else 0.0
            else:
                s = float(fn(result, **(oc or {}))) if result is not None else 0.0
        except TaskError:
            raise
        except (ClawError, KeyError, ValueError, TypeError, OSError) as e:
            s, d["error"] = 0.0, f"{type(e).__name__}: {e}"
        d["score"] = s
        scores.append(s)
        details.append(d)
        if conj == "and" and s == 0.0:
            return Evaluation(0.0, tuple(details))
        if conj == "or" and s == 1.0:
            return Evaluation(1.0, tuple(details))
    score = (sum(scores) / len(scores)) if conj == "and" else max(scores)
    return Evaluation(score, tuple(details))


def _short(v: Any) -> Any:
    if isinstance(v, str) and len(v) > 500:
        return v[:500] + "…"
    if isinstance(v, dict):
        return {k: _short(x) for k, x in v.items()}
    return v
