"""The gate's folder: published weight files, ``index.json`` (served, base, published versions and their suite
scores), the decision log ``gate.jsonl`` and the admin token; plus ``claw rollback``'s client side."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from claw_envs.core.errors import ConfigError


class VersionStore:
    """``v<N>.pt`` weight files, ``index.json`` (served, base, published versions + their suite scores) and
    the decision log ``gate.jsonl``; every write is atomic (temp file + rename)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.index_path, self.log_path = self.root / "index.json", self.root / "gate.jsonl"
        self._lock = threading.Lock()

    def index(self) -> dict[str, Any]:
        if not self.index_path.is_file():
            return {"served": None, "base": None, "published": {}}
        return json.loads(self.index_path.read_text())

    def _write_index(self, idx: dict[str, Any]) -> None:
        tmp = self.index_path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            fh.write(json.dumps(idx, indent=1))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.index_path)

    def path(self, version: int) -> Path:
        return self.root / f"v{version}.pt"

    def save(self, version: int, state: dict[str, Any], scores: list[float], base: bool = False) -> None:
        import torch

        tmp = self.path(version).with_suffix(".tmp")
        with tmp.open("wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path(version))
        with self._lock:
            idx = self.index()
            idx["published"][str(version)] = {"scores": scores, "time": time.time()}
            if base:
                idx["base"] = version
            self._write_index(idx)

    def load(self, version: int) -> dict[str, Any]:
        import torch

        if str(version) not in self.index()["published"] or not self.path(version).is_file():
            raise ConfigError(f"version {version} is not on disk; kept versions: {self.kept()}")
        return torch.load(self.path(version), weights_only=True)

    def kept(self) -> list[int]:
        return sorted(int(v) for v in self.index()["published"] if self.path(int(v)).is_file())

    def scores(self, version: int) -> list[float]:
        return list(self.index()["published"][str(version)]["scores"])

    def set_served(self, version: int) -> None:
        with self._lock:
            idx = self.index()
            idx["served"] = version
            self._write_index(idx)

    def prune(self, keep: int) -> list[int]:
        """Delete all but the base, the served and the ``keep`` newest published versions; returns the deleted."""
        with self._lock:
            idx = self.index()
            versions = sorted(int(v) for v in idx["published"])
            protect = {idx["base"], idx["served"], *[v for v in versions if v != idx["base"]][-keep:]}
            gone = [v for v in versions if v not in protect]
            for v in gone:
                self.path(v).unlink(missing_ok=True)
                del idx["published"][str(v)]
            self._write_index(idx)
        return gone

    def record(self, decision: dict[str, Any]) -> None:
        with self._lock, self.log_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(decision) + "\n")

    def decisions(self) -> list[dict[str, Any]]:
        if not self.log_path.is_file():
            return []
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def token(self) -> str:
        """The admin token (created on first use, readable by the owner only)."""
        p = self.root / "admin.token"
        if not p.is_file():
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(24))
        return p.read_text().strip()


def request_rollback(root: str | Path, version: int, url: str | None = None, timeout: float = 120.0
                     ) -> tuple[str, dict[str, Any]]:
    """``claw rollback``: ask the running server to serve ``version``; edit the index when none answers.

    ``root`` is the gate's folder (``<output_dir>/versions``); ``url`` defaults to the one the server wrote
    to ``<root>/server.json``. Returns ``("server", status)`` or ``("offline", index)``; raises
    ``ConfigError`` for an unknown version, a refused token or a server error.
    """
    import httpx

    store = VersionStore(root)
    if not store.index_path.is_file():
        raise ConfigError(f"{root} holds no gated versions (no index.json): was the run served with gate.enabled?")
    if url is None and (store.root / "server.json").is_file():
        url = json.loads((store.root / "server.json").read_text()).get("url")
    if url:
        try:
            r = httpx.post(url.rstrip("/") + "/admin/rollback", json={"version": int(version)},
                           headers={"Authorization": f"Bearer {store.token()}"}, timeout=timeout)
        except httpx.TransportError:
            r = None  # nothing listens there: switch the index for the next start
        if r is not None:
            if r.status_code != 200:
                raise ConfigError(f"{url} refused the rollback ({r.status_code}): {r.text[:300]}")
            return "server", r.json()
    if int(version) not in store.kept():
        raise ConfigError(f"version {version} is not on disk; kept versions: {store.kept()}")
    store.set_served(int(version))
    store.record({"time": time.time(), "version": int(version), "decision": "rollback", "served": int(version),
                  "reason": "offline: applied at the next start"})
    return "offline", store.index()
