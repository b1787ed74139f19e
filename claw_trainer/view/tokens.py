"""The per-token log: what a training step actually pushed, token by token, for ``claw view``.

A trainer calls :meth:`TokenLog.write` (or :meth:`TokenLog.write_batch` with the step's tensors) once per
trained turn; each call appends one compact JSON line::

    {"turn_key": "9f2c...", "step": 3, "completion_ids": [...], "a_rl": 0.71,
     "opd": [teacher - old per token, or null], "adv": [per-token advantage], "version": 2}

``turn_key`` is :func:`turn_key` of the trained :class:`~claw_trainer.rollout.Turn` — a hash of what was
sampled (prompt and completion token ids, policy version, task, step) — so the viewer joins the log with
``turns.jsonl`` or ``turns.sqlite`` without either file knowing about the other. Floats are rounded to 4
decimals. Appends are flushed per call and the file is opened in append mode, so a run killed mid-write
leaves at most one torn last line, which :meth:`TokenLog.read` skips. Writing is optional: a run without a
token log is still viewable, only without coloured tokens.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

DEFAULT_NAME = "tokens.jsonl"
_REQUIRED = ("turn_key", "step", "completion_ids", "a_rl", "adv", "version")


def turn_key(turn: Any) -> str:
    """A stable 16-hex-digit key of a sampled turn (a ``Turn`` or its JSON dict)."""
    get = turn.get if isinstance(turn, dict) else lambda k, d=None: getattr(turn, k, d)
    h = hashlib.sha1()
    for part in (list(get("prompt_ids", ()) or ()), list(get("completion_ids", ()) or ()), get("policy_version", 0),
                 get("task_id"), get("step", 0), get("episode", 0)):
        h.update(json.dumps(part).encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]


def _floats(values: Sequence[float] | None) -> list[float] | None:
    if values is None:
        return None
    return [round(float(v), 4) for v in values]


class TokenLog:
    """Append-only JSONL of per-token training arrays (thread-safe writer, tolerant reader)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fh: Any = None

    # -- writing -------------------------------------------------------------------------------------------
    def write(self, record: dict[str, Any]) -> None:
        """Append one record; raises ``ValueError`` naming a missing key or a length mismatch."""
        missing = [k for k in _REQUIRED if k not in record]
        if missing:
            raise ValueError(f"token log record lacks {missing}; required keys: {list(_REQUIRED)}")
        n = len(record["completion_ids"])
        for k in ("adv", "opd"):
            if record.get(k) is not None and len(record[k]) != n:
                raise ValueError(f"token log record: {k} has {len(record[k])} values for {n} completion tokens")
        row = {"turn_key": str(record["turn_key"]), "step": int(record["step"]),
               "completion_ids": [int(t) for t in record["completion_ids"]], "a_rl": round(float(record["a_rl"]), 4),
               "opd": _floats(record.get("opd")), "adv": _floats(record["adv"]), "version": int(record["version"])}
        line = json.dumps(row, separators=(",", ":")) + "\n"
        with self._lock:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = self.path.open("a", encoding="utf-8")
            self._fh.write(line)
            self._fh.flush()

    def write_batch(self, turns: Sequence[Any], step: int, a_rl: Sequence[float], adv: Any, mask: Any,
                    opd: Any = None, has_hint: Sequence[bool] | None = None, version: int | None = None) -> int:
        """Log a trained batch from the step's tensors; returns how many records were written.

        ``adv``, ``mask`` and ``opd`` are ``(B, T)`` tensors (or nested lists) aligned with each turn's
        completion tokens; row ``i`` is cut to ``len(turns[i].completion_ids)`` and to its mask. ``opd`` is
        ``logp_teacher − logp_old``; rows whose ``has_hint`` is false get ``opd: null``. ``version`` defaults
        to each turn's ``policy_version``.
        """
        def rows(x: Any) -> list[list[float]]:
            return x.detach().float().cpu().tolist() if hasattr(x, "detach") else [list(r) for r in x]

        adv_rows, mask_rows = rows(adv), rows(mask)
        opd_rows = rows(opd) if opd is not None else None
        for i, t in enumerate(turns):
            n = len(t.completion_ids)
            keep = [j for j in range(n) if j < len(mask_rows[i]) and mask_rows[i][j]]
            ids = [t.completion_ids[j] for j in keep]
            hinted = opd_rows is not None and (has_hint is None or bool(has_hint[i]))
            self.write({"turn_key": turn_key(t), "step": step, "completion_ids": ids, "a_rl": float(a_rl[i]),
                        "adv": [adv_rows[i][j] for j in keep],
                        "opd": [opd_rows[i][j] for j in keep] if hinted else None,
                        "version": t.policy_version if version is None else version})
        return len(turns)

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> TokenLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------------------
    def read(self) -> Iterator[dict[str, Any]]:
        """Every well-formed record in file order (a torn or foreign line is skipped)."""
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and all(k in row for k in _REQUIRED):
                    yield row

    def by_turn(self) -> dict[str, list[dict[str, Any]]]:
        """Records grouped by ``turn_key`` (a turn trained more than once has several, in step order)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for row in self.read():
            out.setdefault(row["turn_key"], []).append(row)
        return out
