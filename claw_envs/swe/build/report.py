"""The build's outputs: the JSONL dataset, the per-candidate log (for resuming) and the build report.

``<out>/instances.jsonl``: one SWE-bench 5.x row per kept instance, with ``claw_*`` keys (loadable by
``gym.make("claw/SWE-v0", tasks=<out>/instances.jsonl)``). ``<out>/candidates.jsonl``: every candidate's
outcome (kept or the rejection reason, seconds), read back so a rerun skips decided candidates.
``<out>/report.json``: per source and in total, kept / rejected by reason, seconds per candidate and per kept
instance, throughput (kept instances per minute of wall time), workers.
"""

from __future__ import annotations

import json
import statistics
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from claw_envs.swe.build.validate import Outcome


class Output:
    def __init__(self, out: Path):
        self.dir = out
        out.mkdir(parents=True, exist_ok=True)
        self.instances = out / "instances.jsonl"
        self.candidates = out / "candidates.jsonl"
        self._lock = threading.Lock()
        self._kept: set[str] | None = None

    def decided(self) -> dict[str, dict]:
        """Candidates already decided in an earlier run, by candidate key."""
        if not self.candidates.exists():
            return {}
        rows = [json.loads(ln) for ln in self.candidates.read_text().splitlines() if ln.strip()]
        return {r["key"]: r for r in rows if r.get("key")}

    def kept_ids(self) -> set[str]:
        if self._kept is None:
            text = self.instances.read_text() if self.instances.exists() else ""
            self._kept = {json.loads(ln)["instance_id"] for ln in text.splitlines() if ln.strip()}
        return self._kept

    def record(self, out: Outcome, source: str) -> None:
        with self._lock:
            if out.kept and out.instance is not None and out.candidate_id not in self.kept_ids():
                with self.instances.open("a") as f:
                    f.write(json.dumps(out.instance.claw_row(self.dir)) + "\n")
                self._kept.add(out.candidate_id)
            with self.candidates.open("a") as f:
                f.write(json.dumps({"key": out.meta.get("key", out.candidate_id), "id": out.candidate_id,
                                    "source": source, "reason": out.reason, "seconds": round(out.seconds, 3),
                                    "detail": out.detail[:500], "operator": out.meta.get("operator")}) + "\n")


def summarize(rows: list[dict]) -> dict[str, Any]:
    secs = [r["seconds"] for r in rows]
    kept = [r for r in rows if r["reason"] == "kept"]
    return {"candidates": len(rows), "kept": len(kept),
            "rejected": dict(Counter(r["reason"] for r in rows if r["reason"] != "kept").most_common()),
            "kept_by_operator": dict(Counter(r.get("operator") for r in kept).most_common()),
            "seconds_per_candidate": {"mean": round(statistics.fmean(secs), 2) if secs else None,
                                      "median": round(statistics.median(secs), 2) if secs else None},
            "candidate_seconds_per_kept": round(sum(secs) / len(kept), 2) if kept else None}


def write_report(output: Output, sources: list[dict[str, Any]], wall_seconds: float, workers: int) -> dict:
    """The report over every candidate in ``candidates.jsonl`` (earlier runs included) and this run's sources."""
    rows = [json.loads(ln) for ln in output.candidates.read_text().splitlines()] if output.candidates.exists() else []
    by_source: dict[str, list[dict]] = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append(r)
    report = {"workers": workers, "wall_seconds": round(wall_seconds, 1), "sources": []}
    for s in sources:
        report["sources"].append({**s, **summarize(by_source.get(s["key"], []))})
    total = summarize(rows)
    run_kept = sum(s.get("kept_this_run", 0) for s in sources)
    total["kept_per_minute_this_run"] = round(run_kept / (wall_seconds / 60), 2) if wall_seconds else None
    total["instances_in_dataset"] = len(output.kept_ids())
    report["total"] = total
    (output.dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
