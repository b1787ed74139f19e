"""Workspaces: a repository at ``base_commit``, materialised into a sandbox fast, never cloned per reset.

For a project instance the repo tree is committed once (fixed identity and date, so ``base_commit`` is
reproducible) into a host cache, packed as a tar archive (``.git`` included) and kept in memory; each reset
streams it into the sandbox's tmpfs with one ``tar -x`` (no clone, no network, no host files touched).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

from claw_envs.core.errors import SandboxError, TaskError
from claw_envs.sandbox.base import Sandbox
from claw_envs.swe.instance import SWEInstance

GIT_ENV = {"GIT_AUTHOR_NAME": "claw-gym", "GIT_AUTHOR_EMAIL": "swe@claw-gym.invalid",
           "GIT_COMMITTER_NAME": "claw-gym", "GIT_COMMITTER_EMAIL": "swe@claw-gym.invalid",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+0000", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+0000",
           "PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1"}
_cache: dict[Path, tuple[str, bytes]] = {}
_lock = threading.Lock()


def _git(cwd: Path, *args: str) -> str:
    r = subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, env=GIT_ENV,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise TaskError(f"git {' '.join(args)} failed in {cwd}: {r.stderr.strip()}")
    return r.stdout.strip()


def pack_repo(source: Path) -> tuple[str, bytes]:
    """(base_commit, tar bytes) of ``source`` committed as one commit. Cached per process."""
    source = source.resolve()
    with _lock:
        if source in _cache:
            return _cache[source]
    with tempfile.TemporaryDirectory(prefix="claw-swe-") as tmp:
        work = Path(tmp) / "repo"
        shutil.copytree(source, work, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc"))
        _git(work, "init", "-q")
        _git(work, "add", "-A")
        _git(work, "commit", "-q", "-m", "base")
        commit = _git(work, "rev-parse", "HEAD")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(work, arcname=".")
        packed = (commit, buf.getvalue())
    with _lock:
        _cache[source] = packed
    return packed


def prepare(inst: SWEInstance) -> SWEInstance:
    """The instance with ``base_commit`` filled in from its packed local repo."""
    if inst.source is None:
        return inst
    commit, _ = pack_repo(inst.source)
    return replace(inst, base_commit=commit)


def materialize(sandbox: Sandbox, inst: SWEInstance, root: str = "/testbed") -> None:
    """Put the repo at ``base_commit`` into ``root`` inside a started sandbox."""
    if inst.source is None:
        raise TaskError(f"{inst.instance_id}: no local repository; rows from SWE-bench need the docker backend "
                        "with SWE-bench's images (sweb.eval.x86_64.<id>)")
    _, data = pack_repo(inst.source)
    r = sandbox.exec(f"mkdir -p {root} && tar -x -C {root}",
                     timeout=60, stdin=data, cwd="/")
    if not r.ok:
        raise SandboxError(f"could not materialise {inst.instance_id} into {root}: {r.output.strip()[-500:]}")
