"""``claw gui check DIR``: how much of a folder of OSWorld task files runs on the local desktop.

For every task: ``reset`` (the task's set-up), a no-op episode (``DONE`` at once) and the evaluator, on one
desktop reused across tasks (``reset`` gives each task a fresh session). Each task gets one outcome:

* ``ran`` — set-up and evaluation completed; ``score`` is the no-op's score (0 expected);
* ``needs download`` — a ``download`` file is not cached and could not be fetched (the URL and the exact
  cache path to put it at are named);
* ``unsupported`` — a set-up step type, command, getter or metric this environment does not offer (named);
* ``infrastructure error`` — anything else (a set-up step failed, a getter raised, the desktop died...).

The coverage line counts tasks that ran among those that need no download (decided from the task file:
no ``download`` step and no remote ``cloud_file``). ``python -m claw_envs.gui.check DIR [--json OUT]
[--min-coverage PCT]`` exits 1 when coverage is below ``--min-coverage`` (default 0).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from claw_envs.core.errors import ClawError
from claw_envs.gui.osworld import DownloadNeeded, Unsupported
from claw_envs.gui.tasks import GUITask, load_gui_tasks

RAN, DOWNLOAD, UNSUPPORTED, INFRA = "ran", "needs download", "unsupported", "infrastructure error"


@dataclass(frozen=True)
class CheckResult:
    task_id: str
    outcome: str
    detail: str = ""
    score: float | None = None
    needs_download: bool = False
    seconds: float = 0.0


def needs_download(task: GUITask) -> bool:
    """Whether the task file fetches files from a URL (``download`` steps or a remote ``cloud_file``)."""
    ev = task.evaluator
    steps = list(task.config) + list(ev.get("postconfig") or [])
    for s in steps:
        if s.get("type") == "download":
            files = (s.get("parameters") or {}).get("files") or []
            if any("://" in str(f.get("url", "")).removeprefix("file://") for f in files):
                return True
    for key in ("result", "expected"):
        for g in ev.get(key) if isinstance(ev.get(key), list) else [ev.get(key)]:
            if isinstance(g, dict) and g.get("type") in ("cloud_file", "cache_file", "pdf_from_url"):
                paths = g.get("path") if isinstance(g.get("path"), list) else [g.get("path")]
                if g.get("type") == "pdf_from_url" or any("://" in str(p) for p in paths):
                    return True
    return False


def check_task(env: Any, task: GUITask) -> CheckResult:
    """Reset, no-op and evaluate one task on ``env`` (a ``GUIEnv``); never raises for a task's failure."""
    t = time.monotonic()
    nd = needs_download(task)

    def out(outcome: str, detail: str = "", score: float | None = None) -> CheckResult:
        return CheckResult(task.id, outcome, detail, score, nd, round(time.monotonic() - t, 2))

    try:
        env.reset(options={"task_id": task.id})
        *_, info = env.step("DONE")
    except DownloadNeeded as e:
        return out(DOWNLOAD, f"{e.url} -> {e.cache_path}")
    except Unsupported as e:
        return out(UNSUPPORTED, f"{e.kind} {e.name}: {_first_line(e)}")
    except ClawError as e:
        return out(INFRA, _first_line(e))
    except Exception as e:  # noqa: BLE001 - a crash is reported, the check goes on
        return out(INFRA, f"{type(e).__name__}: {e}")
    ev = info.get("outcome") or {}
    errors = [d["error"] for d in ev.get("details", []) if d.get("error")]
    if errors:
        return out(INFRA, f"evaluation error: {errors[0][:300]}", ev.get("score"))
    return out(RAN, "", ev.get("score"))


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0][:400] if str(e).strip() else type(e).__name__


def run_check(folder: str, task_ids: list[str] | None = None, max_sleep: float = 1.0,
              **env_kwargs: Any) -> list[CheckResult]:
    """Check every task of ``folder`` on one local desktop (re-created if it dies). A no-op needs no waiting
    for a slow VM, so set-up ``sleep`` steps are capped at ``max_sleep`` seconds."""
    from claw_envs.gui.env import GUIEnv
    tasks = load_gui_tasks(folder)
    if task_ids:
        tasks = [t for t in tasks if t.id in set(task_ids)]
    results = []
    env = None
    try:
        for task in tasks:
            if env is None:
                env = GUIEnv(tasks=tasks, max_steps=1, settle=0.1, max_setup_sleep=max_sleep, **env_kwargs)
            r = check_task(env, task)
            results.append(r)
            if r.outcome == INFRA and env.client is not None and not _alive(env):
                env.close()
                env = None
    finally:
        if env is not None:
            env.close()
    return results


def _alive(env: Any) -> bool:
    try:
        env.client.screen_size()
        return True
    except ClawError:
        return False


def coverage(results: list[CheckResult]) -> dict[str, Any]:
    base = [r for r in results if not r.needs_download]
    ran = [r for r in base if r.outcome == RAN]
    counts = {k: sum(r.outcome == k for r in results) for k in (RAN, DOWNLOAD, UNSUPPORTED, INFRA)}
    return {"tasks": len(results), **counts, "no_download_tasks": len(base), "no_download_ran": len(ran),
            "coverage_pct": round(100.0 * len(ran) / len(base), 1) if base else 0.0,
            "noop_nonzero": [r.task_id for r in results if r.outcome == RAN and r.score not in (0, 0.0, None)]}


def format_table(results: list[CheckResult]) -> str:
    lines = [f"{'task':38} {'outcome':22} {'no-op':>5} {'s':>6}  detail"]
    for r in results:
        score = "" if r.score is None else f"{r.score:g}"
        lines.append(f"{r.task_id[:38]:38} {r.outcome:22} {score:>5} {r.seconds:6.1f}  {r.detail}")
    c = coverage(results)
    lines.append(f"coverage: {c['no_download_ran']}/{c['no_download_tasks']} tasks that need no download ran "
                 f"({c['coverage_pct']}%); of all {c['tasks']}: ran {c[RAN]}, needs download {c[DOWNLOAD]}, "
                 f"unsupported {c[UNSUPPORTED]}, infrastructure error {c[INFRA]}"
                 + (f"; no-op scored > 0: {', '.join(c['noop_nonzero'])}" if c["noop_nonzero"] else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="claw gui check", description="reset + no-op + evaluate every OSWorld task "
                                 "file of a folder on a local desktop; prints a table and a coverage line")
    ap.add_argument("dir", help="folder of OSWorld task JSON files (e.g. evaluation_examples/examples/os)")
    ap.add_argument("--ids", nargs="*", default=None, help="only these task ids")
    ap.add_argument("--cache", default=None, help="download cache (default $CLAW_GUI_CACHE or ~/.cache/claw-gym/osworld)")
    ap.add_argument("--offline", action="store_true", help="never fetch downloads; use the cache only")
    ap.add_argument("--json", default=None, help="also write the results and coverage as JSON here")
    ap.add_argument("--min-coverage", type=float, default=0.0, help="exit 1 below this %% of no-download tasks")
    a = ap.parse_args(argv)
    try:
        results = run_check(a.dir, a.ids, download_cache=a.cache, offline=a.offline)
    except ClawError as e:
        print(f"claw gui check: {e}", file=sys.stderr)
        return 2
    print(format_table(results), flush=True)
    c = coverage(results)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"results": [asdict(r) for r in results], "coverage": c}, f, indent=1)
    return 0 if c["coverage_pct"] >= a.min_coverage else 1


if __name__ == "__main__":
    sys.exit(main())
