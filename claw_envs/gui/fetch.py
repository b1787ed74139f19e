"""``claw gui fetch DIR``: fill the download cache once, on a machine with internet, for a folder of OSWorld tasks.

Every file a task would fetch — its ``download`` steps (``config`` and ``evaluator.postconfig``) and its remote
``cloud_file``/``cache_file`` getters — is fetched into the cache with the names the environment looks for
(``<cache>/<task_id>/<file>``, see ``downloads``). Files already cached are kept. Afterwards the tasks run
offline (``claw gui check DIR --offline``, ``GUIEnv(..., offline=True)``). Copy the cache folder to other
machines as is, or point ``CLAW_GUI_CACHE`` / ``--cache`` at it.

Not fetchable this way (reported): ``pdf_from_url`` (a live web page printed to PDF) and Google Drive steps.

``python -m claw_envs.gui.fetch DIR [--cache DIR] [--ids ...]`` prints one line per file and a summary; exits 1
when a file could not be fetched.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

from claw_envs.core.errors import ClawError
from claw_envs.gui.downloads import DownloadCache
from claw_envs.gui.osworld import DownloadNeeded
from claw_envs.gui.tasks import GUITask, load_gui_tasks


@dataclass(frozen=True)
class Wanted:
    task_id: str
    url: str
    name: str


def _remote(url: Any) -> bool:
    return isinstance(url, str) and "://" in url and not url.startswith("file://")


def wanted_files(task: GUITask) -> tuple[list[Wanted], list[str]]:
    """The files ``task`` fetches (with their cache names), and what cannot be fetched ahead (described)."""
    out, skipped = [], []
    ev = task.evaluator
    for step in list(task.config) + list(ev.get("postconfig") or []):
        kind = step.get("type")
        if kind == "download":
            for f in (step.get("parameters") or {}).get("files") or []:
                if _remote(f.get("url")):
                    out.append(Wanted(task.id, f["url"], os.path.basename(str(f.get("path") or f["url"]))))
        elif kind in ("googledrive", "login"):
            skipped.append(f"{kind} step (needs an account)")
    for key in ("result", "expected"):
        for g in ev.get(key) if isinstance(ev.get(key), list) else [ev.get(key)]:
            if not isinstance(g, dict):
                continue
            if g.get("type") in ("cloud_file", "cache_file"):
                paths = g["path"] if isinstance(g.get("path"), list) else [g.get("path")]
                dests = g.get("dest") if isinstance(g.get("dest"), list) else [g.get("dest")] * len(paths)
                for p, d in zip(paths, dests, strict=False):
                    if _remote(p):
                        out.append(Wanted(task.id, p, d or os.path.basename(p)))
            elif g.get("type") == "pdf_from_url":
                skipped.append(f"pdf_from_url {g.get('path')} (a web page printed to PDF: put the PDF in the cache "
                               f"as {g.get('dest') or 'page.pdf'})")
    seen, uniq = set(), []
    for w in out:
        if (w.url, w.name) not in seen:
            seen.add((w.url, w.name))
            uniq.append(w)
    return uniq, skipped


def fetch_all(tasks: list[GUITask], cache: DownloadCache, log=print) -> dict[str, Any]:
    """Fetch every file of ``tasks`` into ``cache``; returns counts and the failures."""
    got = kept = 0
    failed, skipped = [], []
    for task in tasks:
        files, skip = wanted_files(task)
        skipped += [f"{task.id}: {s}" for s in skip]
        for w in files:
            if cache.cached(w.task_id, w.url, w.name) is not None:
                kept += 1
                continue
            try:
                path = cache.get(w.task_id, w.url, w.name)
            except DownloadNeeded as e:
                failed.append(str(e))
                log(f"FAILED {w.url}: {e}")
                continue
            got += 1
            log(f"fetched {w.url} -> {path}")
    return {"fetched": got, "already_cached": kept, "failed": failed, "not_fetchable": skipped}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="claw gui fetch", description="fetch every file a folder of OSWorld tasks "
                                 "downloads into the GUI download cache (once, with internet), so they run offline")
    ap.add_argument("dir", help="folder of OSWorld task JSON files")
    ap.add_argument("--cache", default=None, help="download cache (default $CLAW_GUI_CACHE or ~/.cache/claw-gym/osworld)")
    ap.add_argument("--ids", nargs="*", default=None, help="only these task ids")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per file")
    a = ap.parse_args(argv)
    try:
        tasks = load_gui_tasks(a.dir)
    except ClawError as e:
        print(f"claw gui fetch: {e}", file=sys.stderr)
        return 2
    if a.ids:
        tasks = [t for t in tasks if t.id in set(a.ids)]
    cache = DownloadCache(a.cache, timeout=a.timeout)
    r = fetch_all(tasks, cache)
    for s in r["not_fetchable"]:
        print(f"not fetchable ahead: {s}")
    print(f"cache {cache.root}: fetched {r['fetched']}, already cached {r['already_cached']}, failed "
          f"{len(r['failed'])}, not fetchable ahead {len(r['not_fetchable'])}")
    return 1 if r["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
