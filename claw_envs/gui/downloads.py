"""Task files OSWorld downloads (``download`` set-up steps, ``cloud_file`` getters), fetched on the host.

Contract: ``DownloadCache(root).get(task_id, url, name)`` returns a local path laid out like OSWorld's cache,
``<root>/<task_id>/<name>``. A file already there is reused (never fetched again); OSWorld's own cache
naming (``<uuid5(url)>_<name>`` in the same folder) is accepted too, so an OSWorld cache folder can be
pointed at directly. Otherwise the URL is fetched once (``http``/``https``, written atomically); when that
fails (offline, 404...) ``DownloadNeeded`` names the URL and the exact path to put the file at. ``file://``
URLs and paths relative to the task's folder are read from there. ``offline=True`` never touches the
network.

The cache root is ``$CLAW_GUI_CACHE`` when set, else ``~/.cache/claw-gym/osworld``.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from claw_envs.gui.osworld import DownloadNeeded


def default_cache_root() -> str:
    return os.environ.get("CLAW_GUI_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "claw-gym", "osworld")


class DownloadCache:
    """OSWorld-layout download cache (see the module docstring)."""

    def __init__(self, root: str | None = None, offline: bool = False, timeout: float = 60.0):
        self.root = Path(root or default_cache_root())
        self.offline, self.timeout = offline, timeout
        self.fetched: list[str] = []  # URLs fetched from the network by this cache (not reused ones)

    def path_for(self, task_id: str, name: str) -> Path:
        return self.root / _safe(task_id) / _safe(name)

    def cached(self, task_id: str, url: str, name: str) -> Path | None:
        p = self.path_for(task_id, name)
        if p.is_file():
            return p
        alt = p.parent / f"{uuid.uuid5(uuid.NAMESPACE_URL, url)}_{_safe(name)}"
        return alt if alt.is_file() else None

    def get(self, task_id: str, url: str, name: str | None = None) -> Path:
        name = name or os.path.basename(url.split("?", 1)[0].rstrip("/")) or "file"
        hit = self.cached(task_id, url, name)
        if hit is not None:
            return hit
        dest = self.path_for(task_id, name)
        if self.offline:
            raise self._needed(task_id, url, dest, "offline mode")
        if not url.startswith(("http://", "https://")):
            raise self._needed(task_id, url, dest, "not an http(s) URL")
        try:
            req = urllib.request.Request(url, headers={"User-Agent": "claw-gym"})
            with urllib.request.urlopen(req, timeout=self.timeout) as r:  # noqa: S310 - http(s) only
                data = r.read()
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise self._needed(task_id, url, dest, f"{type(e).__name__}: {e}") from e
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)
        self.fetched.append(url)
        return dest

    @staticmethod
    def _needed(task_id: str, url: str, dest: Path, why: str) -> DownloadNeeded:
        return DownloadNeeded(f"task {task_id} needs {url} ({why}): download it to {dest} "
                              "(the cache is reused; set CLAW_GUI_CACHE to move it)", url, str(dest))


def _safe(name: str) -> str:
    name = os.path.basename(name.replace("\\", "/")) or "file"
    return "_" + name if name in (".", "..") else name
