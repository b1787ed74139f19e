"""Validation of built instances, and the pool that validates many candidates at once.

``check_instance`` is the acceptance test every kept instance passes, graded by SWE-bench's code through
``claw_envs.swe.grading.evaluate_patch`` in fresh workspaces: the gold patch resolves it (reward +1) and the
empty patch does not (reward -1), with every FAIL_TO_PASS test failing and every PASS_TO_PASS test passing
before the fix.

``Pool`` runs a check function over candidates on ``workers`` threads, one sandbox per thread, with a rich
progress bar, and stops once enough instances are kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from claw_envs.core.errors import SandboxError
from claw_envs.sandbox import SandboxConfig, make_sandbox
from claw_envs.sandbox.base import DEFAULT_WRITABLE, Sandbox
from claw_envs.swe.grading import ROOT, evaluate_patch
from claw_envs.swe.instance import SWEInstance
from claw_envs.swe.workspace import prepare


@dataclass
class Outcome:
    """What became of one candidate: ``reason`` is ``kept`` or why it was rejected."""

    candidate_id: str
    reason: str
    seconds: float
    instance: SWEInstance | None = None
    detail: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def kept(self) -> bool:
        return self.reason == "kept"


def sandbox_config() -> SandboxConfig:
    return SandboxConfig(workdir=ROOT, writable={**DEFAULT_WRITABLE, ROOT: "512m"})


def check_instance(sb: Sandbox, inst: SWEInstance, timeout: float) -> tuple[str, str]:
    """("kept", "") when gold resolves and empty does not (exactly: F2P all fail, P2P all pass before the
    fix), else (reason, detail)."""
    inst = prepare(inst)
    gold = evaluate_patch(sb, inst, inst.patch, timeout)
    if gold.status in ("timeout", "infra_error", "patch_failed"):
        return f"gold_{gold.status}", gold.log[-800:]
    if not gold.resolved:
        ts = gold.report.get("tests_status") or {}
        bad = sorted(set((ts.get("FAIL_TO_PASS") or {}).get("failure", []))
                     | set((ts.get("PASS_TO_PASS") or {}).get("failure", [])))
        return "gold_not_resolved", f"failing with the gold patch: {bad[:10]}"
    empty = evaluate_patch(sb, inst, "", timeout)
    if empty.status in ("timeout", "infra_error"):
        return f"empty_{empty.status}", empty.log[-800:]
    if empty.resolved:
        return "empty_resolves", "the empty patch resolves the instance"
    if empty.f2p != 0.0 or empty.p2p != 1.0:
        return "unstable_before_fix", f"before the fix: F2P passing {empty.f2p:.2f}, P2P passing {empty.p2p:.2f}"
    return "kept", ""


class Pool:
    """``check(sandbox, candidate) -> Outcome`` over candidates on ``workers`` threads (one sandbox each)."""

    def __init__(self, workers: int = 2, progress: Any = None):
        self.workers = max(1, int(workers))
        self.progress = progress
        self._local = threading.local()
        self._sandboxes: list[Sandbox] = []
        self._lock = threading.Lock()

    def _sandbox(self) -> Sandbox:
        sb = getattr(self._local, "sb", None)
        if sb is None:
            sb = make_sandbox("local", sandbox_config())
            sb.start()
            self._local.sb = sb
            with self._lock:
                self._sandboxes.append(sb)
        return sb

    def _run(self, check: Callable[[Sandbox, Any], Outcome], cand: Any, cid: str) -> Outcome:
        t0 = time.monotonic()
        try:
            return check(self._sandbox(), cand)
        except SandboxError as e:
            self._local.sb = None
            return Outcome(cid, "infra_error", time.monotonic() - t0, detail=str(e))

    def run(self, candidates: Iterable[tuple[str, Any]], check: Callable[[Sandbox, Any], Outcome],
            want: int | None = None, on_outcome: Callable[[Outcome], None] | None = None,
            label: str = "validating") -> list[Outcome]:
        """Check ``(id, candidate)`` pairs until ``want`` are kept (or all are checked)."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        outcomes: list[Outcome] = []
        kept = 0
        it = iter(candidates)
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), transient=False)
        with progress, ThreadPoolExecutor(self.workers) as ex:
            task = progress.add_task(label, total=want, status="")
            running: dict[Future, str] = {}

            def submit() -> bool:
                try:
                    cid, cand = next(it)
                except StopIteration:
                    return False
                running[ex.submit(self._run, check, cand, cid)] = cid
                return True

            while len(running) < self.workers and submit():
                pass
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    running.pop(fut)
                    out = fut.result()
                    outcomes.append(out)
                    kept += out.kept
                    if on_outcome is not None:
                        on_outcome(out)
                    progress.update(task, completed=kept if want else len(outcomes),
                                    status=f"tried {len(outcomes)}, kept {kept}, last: {out.reason}")
                    if want is None or kept + len(running) < want:
                        submit()
        for sb in self._sandboxes:
            sb.close()
        self._sandboxes.clear()
        return outcomes
