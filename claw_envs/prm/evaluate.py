"""Judge quality against labelled cases: accuracy, per-class precision/recall, Cohen's kappa.

A case (one JSON object per line): ``{"id", "kind", "task", "action", "next_state": {"role", "text"},
"label": -1 | 0 | 1}``. The judge's aggregated score is rounded to the nearest class.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claw_envs.core.errors import TaskError
from claw_envs.core.task import read_jsonl
from claw_envs.prm.judge import Judge, Turn

CLASSES = (-1, 0, 1)


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    cases = []
    for where, c in read_jsonl(path):
        ns = c.get("next_state") if isinstance(c, dict) else None
        if not isinstance(ns, dict) or c.get("label") not in CLASSES or not isinstance(c.get("action"), str):
            raise TaskError(f"{where}: a case needs 'action' (text), 'next_state' {{role, text}} and "
                            "'label' in -1/0/1")
        cases.append(c)
    if not cases:
        raise TaskError(f"{path}: no cases")
    return cases


@dataclass
class JudgeReport:
    n: int
    accuracy: float
    kappa: float
    precision: dict[int, float]
    recall: dict[int, float]
    confusion: dict[tuple[int, int], int]
    invalid_votes: int
    seconds: float
    by_kind: dict[str, float] = field(default_factory=dict)

    @property
    def judgements_per_s(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0


def cohen_kappa(gold: list[int], pred: list[int]) -> float:
    n = len(gold)
    po = sum(g == p for g, p in zip(gold, pred, strict=True)) / n
    pe = sum((gold.count(c) / n) * (pred.count(c) / n) for c in CLASSES)
    return 1.0 if pe == 1 else (po - pe) / (1 - pe)


def report(gold: list[int], pred: list[int], kinds: list[str], invalid: int, seconds: float) -> JudgeReport:
    conf = {(g, p): 0 for g in CLASSES for p in CLASSES}
    for g, p in zip(gold, pred, strict=True):
        conf[(g, p)] += 1
    prec = {c: (conf[(c, c)] / s if (s := sum(conf[(g, c)] for g in CLASSES)) else 0.0) for c in CLASSES}
    rec = {c: (conf[(c, c)] / s if (s := sum(conf[(c, p)] for p in CLASSES)) else 0.0) for c in CLASSES}
    by_kind = {}
    for k in sorted(set(kinds)):
        idx = [i for i, kk in enumerate(kinds) if kk == k]
        by_kind[k] = sum(gold[i] == pred[i] for i in idx) / len(idx)
    acc = sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)
    return JudgeReport(len(gold), acc, cohen_kappa(gold, pred), prec, rec, conf, invalid, seconds, by_kind)


def evaluate_judge(judge: Judge, cases: list[dict[str, Any]], progress: Any = None) -> JudgeReport:
    """Score every case with ``judge`` (concurrently, bounded by the judge) and compare with the labels."""
    turns = [Turn(action=c["action"], next_text=c["next_state"].get("text", ""),
                  next_role=c["next_state"].get("role", "environment"), task=c.get("task"),
                  kind=c.get("kind", "chat")) for c in cases]

    async def run() -> list:
        async def one(t: Turn):
            j = await judge.ascore(t)
            if progress:
                progress()
            return j
        return await asyncio.gather(*(one(t) for t in turns))

    t0 = time.monotonic()
    results = asyncio.run(run())
    seconds = time.monotonic() - t0
    pred = [max(-1, min(1, round(j.score))) for j in results]
    return report([c["label"] for c in cases], pred, [c.get("kind", "?") for c in cases],
                  sum(j.invalid for j in results), seconds)
