"""Read a run for ``claw view``: turns, metrics, report, token log, gate history, GUI screenshots.

A *run* is any of:

* a training run folder with its turn store ``turns.sqlite`` (:mod:`claw_trainer.store`, written by every
  driver: ``claw train``, ``claw train --async``, ``claw serve``; each turn with its status
  ``awaiting_next_state | recorded | judging | judged | trained | dropped`` and, once credited, its advantage),
  plus optional ``metrics.jsonl``, ``report.md``, ``config.json``, ``tokens.jsonl``
  (:mod:`claw_trainer.view.tokens`) and ``versions/gate.jsonl`` (the publish gate's decisions);
* a bare ``*.jsonl`` of turns (``claw rollout --out``) or a bare ``turns.sqlite``.

For backward compatibility, a run folder written by an older ``claw train`` — a ``turns.jsonl`` journal of kept
samples (``{"turn", "a_rl", "has_score", "has_hint"}`` per line) and no ``turns.sqlite`` — is still shown, its
turns with the status ``kept``. The store is read with :func:`claw_trainer.store.read_turns`: read-only, no lock.

Every turn becomes one plain dict (:meth:`Run.turns`) with the same keys whatever the source, so the page
and the filters never care where a turn came from. Files are re-read when their size or mtime changes, so a
page open on a live run shows new turns on reload.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

from claw_envs.core.errors import ConfigError
from claw_trainer.store import read_turns
from claw_trainer.view.tokens import DEFAULT_NAME as TOKENS_NAME
from claw_trainer.view.tokens import TokenLog, turn_key

GATE_LOG = Path("versions") / "gate.jsonl"
_MARKERS = ("turns.jsonl", "turns.sqlite", "metrics.jsonl")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line of a live or killed run
            if isinstance(row, dict):
                rows.append(row)
    return rows


def _stamp(path: Path | None) -> tuple[float, int] | None:
    if path is None or not path.exists():
        return None
    st = path.stat()
    return st.st_mtime, st.st_size


def _vote(process: Any) -> int | None:
    if process is None:
        return None
    p = float(process)
    return 1 if p > 0 else -1 if p < 0 else 0


def normalize(turn: dict[str, Any], idx: int, extra: dict[str, Any]) -> dict[str, Any]:
    """One turn in the viewer's shape; ``extra`` carries the source's status, judgement and advantage."""
    channels = dict(turn.get("reward_channels") or {})
    judgement = extra.get("judgement") or {}
    process = judgement.get("process", channels.get("process"))
    hint = judgement.get("hint") or turn.get("hint") or channels.get("hint")
    ns = turn.get("next_state") or None
    return {
        "id": idx, "key": turn_key(turn), "env_id": turn.get("env_id"), "task_id": turn.get("task_id"),
        "episode": turn.get("episode", 0), "step": turn.get("step", 0), "version": turn.get("policy_version", 0),
        "action": turn.get("action", ""), "messages": turn.get("messages") or [], "tools": turn.get("tools"),
        "next_state": ns, "reward": turn.get("reward", 0.0), "channels": channels,
        "outcome": channels.get("outcome", turn.get("reward")), "process": process, "vote": _vote(process),
        "votes": channels.get("votes"), "hint": hint, "done": bool(turn.get("done")),
        "a_rl": extra.get("a_rl"), "has_score": extra.get("has_score"), "has_hint": extra.get("has_hint", bool(hint)),
        "status": extra.get("status", "rollout"), "reason": extra.get("reason"), "train_step": extra.get("train_step"),
        "session": extra.get("session"), "turn_type": extra.get("turn_type"),
        "completion_ids": list(turn.get("completion_ids") or ()), "n_tokens": len(turn.get("completion_ids") or ()),
        "gui": bool(ns and ns.get("kind") == "gui"),
    }


def _from_jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    for i, row in enumerate(_jsonl(path)):
        if "turn" in row:  # the trainer's journal: a kept TrainSample
            out.append(normalize(row["turn"], i, {"status": "kept", "a_rl": row.get("a_rl"),
                                                   "has_score": row.get("has_score"), "has_hint": row.get("has_hint")}))
        elif "completion_ids" in row:  # claw rollout --out: a bare Turn
            out.append(normalize(row, i, {"status": "rollout"}))
    return out


def _from_sqlite(path: Path) -> list[dict[str, Any]]:
    out = []
    for r in read_turns(path):
        credit = r.get("credit") or {}
        extra = {"status": r["status"], "reason": r["reason"], "train_step": r["step"], "session": r["session"],
                 "turn_type": r["turn_type"], "judgement": r["judgement"], "a_rl": credit.get("a_rl"),
                 "has_score": credit.get("has_score")}
        if "has_hint" in credit:
            extra["has_hint"] = credit["has_hint"]
        out.append(normalize(r["turn"], r["id"], extra))
    return out


class Run:
    """One viewable run; cheap to construct, reads lazily and caches until its files change."""

    def __init__(self, path: str | Path, name: str | None = None, screens: str | Path | None = None,
                 model: str | None = None):
        p = Path(path).expanduser().resolve()
        if not p.exists():
            raise ConfigError(f"claw view: {path} does not exist (give a run folder, a turns.jsonl or a turns.sqlite)")
        self.root = p if p.is_dir() else p.parent
        if p.is_dir():
            self.turns_path = next((p / m for m in ("turns.sqlite", "turns.jsonl") if (p / m).is_file()), None)
        elif p.suffix in (".sqlite", ".db", ".jsonl"):
            self.turns_path = p
        else:
            raise ConfigError(f"claw view: {path} is neither a run folder, a .jsonl nor a .sqlite file")
        self.name = name or (p.name if p.is_dir() else f"{p.parent.name}/{p.name}")
        self.screens = Path(screens) if screens else next(
            (d for d in (self.root / "record", self.root / "screens", self.root) if d.is_dir() and any(d.glob("*.gif"))),
            None)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._tokenizer: Any = None
        self.model = model  # tokenizer spec for runs without a config.json (e.g. `claw rollout --out` files)

    def _cached(self, key: str, path: Path | None, load: Any) -> Any:
        stamp = (_stamp(path), _stamp(path.with_name(path.name + "-wal")) if path else None)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == stamp:
                return hit[1]
        value = load()
        with self._lock:
            self._cache[key] = (stamp, value)
        return value

    # -- contents --------------------------------------------------------------------------------------------
    def turns(self) -> list[dict[str, Any]]:
        p = self.turns_path
        if p is None:
            return []
        return self._cached("turns", p, lambda: _from_sqlite(p) if p.suffix in (".sqlite", ".db") else _from_jsonl(p))

    def turn(self, idx: int) -> dict[str, Any] | None:
        return next((t for t in self.turns() if t["id"] == idx), None)

    def metrics(self) -> list[dict[str, Any]]:
        return self._cached("metrics", self.root / "metrics.jsonl", lambda: _jsonl(self.root / "metrics.jsonl"))

    def gate(self) -> list[dict[str, Any]]:
        return self._cached("gate", self.root / GATE_LOG, lambda: _jsonl(self.root / GATE_LOG))

    def config(self) -> dict[str, Any]:
        p = self.root / "config.json"
        try:
            return json.loads(p.read_text()) if p.is_file() else {}
        except json.JSONDecodeError:
            return {}

    def report(self) -> str:
        p = self.root / "report.md"
        return p.read_text(encoding="utf-8") if p.is_file() else ""

    def token_log(self) -> dict[str, list[dict[str, Any]]]:
        p = self.root / TOKENS_NAME
        return self._cached("tokens", p, lambda: TokenLog(p).by_turn())

    def summary(self) -> dict[str, Any]:
        turns = self.turns()
        statuses: dict[str, int] = {}
        for t in turns:
            statuses[t["status"]] = statuses.get(t["status"], 0) + 1
        metrics = self.metrics()
        rewards = [m["reward"] for m in metrics if isinstance(m.get("reward"), int | float)]
        return {"name": self.name, "path": str(self.root), "source": self.turns_path.name if self.turns_path else None,
                "turns": len(turns), "statuses": statuses, "tasks": sorted({str(t["task_id"]) for t in turns}),
                "steps": len(metrics), "last_reward": rewards[-1] if rewards else None,
                "gui_turns": sum(t["gui"] for t in turns), "token_log": bool(self.token_log()),
                "gate_decisions": len(self.gate()), "model": (self.config().get("model") or {}).get("name"),
                "env": (self.config().get("env") or {}).get("id"), "screens": str(self.screens) if self.screens else None}

    # -- tokens ----------------------------------------------------------------------------------------------
    def tokenizer(self) -> Any:
        """The run's tokenizer (from ``config.json``'s model), or None when it cannot be loaded offline."""
        if self._tokenizer is None:
            self._tokenizer = False
            model = self.config().get("model") or ({"name": self.model} if self.model else {})
            if model.get("name"):
                try:
                    from transformers import AutoTokenizer

                    from claw_trainer.models import resolve_model

                    path = resolve_model(model["name"], model.get("cache_dir") or "~/.cache/claw-gym/models")
                    self._tokenizer = AutoTokenizer.from_pretrained(path)
                except Exception:  # noqa: BLE001 — the page then shows token ids instead of text
                    self._tokenizer = False
        return self._tokenizer or None

    def tokens(self, turn: dict[str, Any]) -> dict[str, Any]:
        """The completion's tokens with, when the token log has the turn, their trained advantages."""
        records = self.token_log().get(turn["key"], [])
        rec = records[-1] if records else None
        ids = rec["completion_ids"] if rec else turn["completion_ids"]
        tok = self.tokenizer()
        text = [tok.decode([i]) for i in ids] if tok is not None else [f"#{i}" for i in ids]
        out = [{"id": i, "text": s, "adv": rec["adv"][j] if rec else None,
                "opd": rec["opd"][j] if rec and rec.get("opd") is not None else None} for j, (i, s) in
               enumerate(zip(ids, text, strict=True))]
        return {"tokens": out, "logged": rec is not None, "a_rl": rec["a_rl"] if rec else turn.get("a_rl"),
                "train_step": rec["step"] if rec else turn.get("train_step"), "trained_times": len(records),
                "decoded": tok is not None}

    # -- screenshots -----------------------------------------------------------------------------------------
    def screenshot(self, turn: dict[str, Any], before: bool = False) -> bytes | None:
        """PNG of a GUI turn's next state (or, with ``before``, of the screen the action was taken on).

        ``claw rollout --record`` (GUI-v0) saves each episode as ``<task>-ep<n>.gif``, frame 0 the start and
        frame k+1 the screen after step k, where n counts that task's episodes from 1; the run's episodes of
        the task are mapped to n in episode order (exact for rollouts with one sub-env per task).
        """
        if self.screens is None or not turn["gui"]:
            return None
        import re

        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(turn["task_id"]))
        episodes = sorted({t["episode"] for t in self.turns() if t["task_id"] == turn["task_id"] and t["gui"]})
        n = episodes.index(turn["episode"]) + 1
        gif = self.screens / f"{safe}-ep{n}.gif"
        if not gif.is_file():
            return None
        from PIL import Image

        with Image.open(gif) as im:
            frame = turn["step"] + (0 if before else 1)
            if frame >= getattr(im, "n_frames", 1):
                return None
            im.seek(frame)
            buf = io.BytesIO()
            im.convert("RGB").save(buf, format="PNG")
            return buf.getvalue()


def discover(paths: list[str | Path], screens: str | Path | None = None, model: str | None = None) -> list[Run]:
    """Runs named by ``paths``: each a run (folder or file) or a folder of run folders (e.g. ``runs/``).

    ``model`` names the tokenizer (``tiny``, ``smollm2`` or a directory) for runs that carry no config.json.
    """
    runs: list[Run] = []
    for path in paths:
        p = Path(path).expanduser()
        if not p.exists():
            raise ConfigError(f"claw view: {path} does not exist (give a run folder, a turns.jsonl or a turns.sqlite)")
        if p.is_dir() and not any((p / m).is_file() for m in _MARKERS):
            subs = sorted(d for d in p.iterdir() if d.is_dir() and any((d / m).is_file() for m in _MARKERS))
            if not subs:
                raise ConfigError(f"claw view: {p} holds no run (no {', '.join(_MARKERS)} in it or its subfolders)")
            runs += [Run(d, screens=screens, model=model) for d in subs]
        else:
            runs.append(Run(p, screens=screens, model=model))
    names: dict[str, int] = {}
    for r in runs:  # unique names for the URL
        if r.name in names:
            names[r.name] += 1
            r.name = f"{r.name}~{names[r.name]}"
        else:
            names[r.name] = 0
    return runs
