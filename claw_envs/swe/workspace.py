"""Workspaces: a repository at ``base_commit``, materialised into a sandbox fast, never cloned per reset.

For a project instance the repo tree is committed once (fixed identity and date, so ``base_commit`` is
reproducible) into a host cache, packed as a tar archive (``.git`` included) and kept in memory; each reset
streams it into the sandbox's tmpfs with one ``tar -x`` (no clone, no network, no host files touched).

A source that is a git repository (``.git`` inside) keeps its history: a clean checkout's ``base_commit`` is its
real ``HEAD``; uncommitted changes are committed on top. An instance with a ``setup_patch`` (a synthesized bug)
gets a fresh one-commit repository of the patched tree instead (the source's history left out), so neither
``git log`` nor any object in ``.git`` shows the code before the bug.

An instance's ``deps`` folder (its installed dependencies) is streamed to ``DEPS_DIR`` and, with its
``pythonpath`` folders, put first on ``sys.path`` by a ``.pth`` file in the sandbox user's site directory
(outside the repository, so a patch cannot touch it; a fresh workspace gets a fresh copy).
"""

from __future__ import annotations

import hashlib
import io
import shlex
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
DEPS_DIR = "/tmp/claw-deps"
_CACHE_SIZE = 64  # packed workspaces kept in memory (least recently used dropped)
_cache: dict[tuple[Path, str], tuple[str, bytes]] = {}
_deps_cache: dict[Path, bytes] = {}
_lock = threading.Lock()


def _git(cwd: Path, *args: str) -> str:
    r = subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, env=GIT_ENV,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise TaskError(f"git {' '.join(args)} failed in {cwd}: {r.stderr.strip()}")
    return r.stdout.strip()


def pack_repo(source: Path, setup_patch: str = "") -> tuple[str, bytes]:
    """(base_commit, tar bytes) of ``source`` (committed, see the module docstring) with ``setup_patch``
    committed on top. Cached per process (least recently used dropped beyond 64 entries)."""
    source = source.resolve()
    key = (source, hashlib.sha256(setup_patch.encode()).hexdigest() if setup_patch else "")
    with _lock:
        if key in _cache:
            _cache[key] = _cache.pop(key)
            return _cache[key]
    with tempfile.TemporaryDirectory(prefix="claw-swe-") as tmp:
        work = Path(tmp) / "repo"
        skip = ["__pycache__", ".pytest_cache", "*.pyc"] + ([".git"] if setup_patch else [])
        shutil.copytree(source, work, symlinks=True, ignore=shutil.ignore_patterns(*skip))
        if setup_patch:  # one fresh commit of the patched tree: neither the history nor any object holds the original
            (Path(tmp) / "setup.patch").write_text(setup_patch)
            _git(work, "init", "-q")
            _git(work, "apply", str(Path(tmp) / "setup.patch"))
            _git(work, "add", "-A")
            _git(work, "commit", "-q", "--no-verify", "-m", "base")
        elif (work / ".git").exists():
            if _git(work, "status", "--porcelain"):
                _git(work, "add", "-A")
                _git(work, "commit", "-q", "--no-verify", "-m", "claw-gym: uncommitted changes of the source")
        else:
            _git(work, "init", "-q")
            _git(work, "add", "-A")
            _git(work, "commit", "-q", "--no-verify", "--allow-empty", "-m", "base")
        commit = _git(work, "rev-parse", "HEAD")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(work, arcname=".")
        packed = (commit, buf.getvalue())
    with _lock:
        _cache[key] = packed
        while len(_cache) > _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
    return packed


def _empty_tar() -> bytes:
    buf = io.BytesIO()
    tarfile.open(fileobj=buf, mode="w").close()
    return buf.getvalue()


_EMPTY_TAR = _empty_tar()


def _pack_deps(deps: Path) -> bytes:
    deps = deps.resolve()
    with _lock:
        if deps in _deps_cache:
            return _deps_cache[deps]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(deps, arcname=".", filter=lambda ti: None if ti.name.endswith((".pyc", "__pycache__")) else ti)
    with _lock:
        _deps_cache[deps] = buf.getvalue()
    return _deps_cache[deps]


def prepare(inst: SWEInstance) -> SWEInstance:
    """The instance with ``base_commit`` filled in from its packed local repo."""
    if inst.source is None:
        return inst
    commit, _ = pack_repo(inst.source, inst.setup_patch)
    if inst.base_commit and inst.base_commit != commit and (inst.setup_patch or (inst.source / ".git").exists()):
        raise TaskError(f"{inst.instance_id}: its source gives commit {commit}, not the row's base_commit "
                        f"{inst.base_commit}: {inst.source} changed since the instance was built")
    return replace(inst, base_commit=commit)


def materialize(sandbox: Sandbox, inst: SWEInstance, root: str = "/testbed") -> None:
    """Put the repo at ``base_commit`` into ``root`` inside a started sandbox."""
    if inst.source is None:
        raise TaskError(f"{inst.instance_id}: no local repository; rows from SWE-bench need the docker backend "
                        "with SWE-bench's images (sweb.eval.x86_64.<id>)")
    _, data = pack_repo(inst.source, inst.setup_patch)
    r = sandbox.exec(f"mkdir -p {root} && tar -x -C {root}",
                     timeout=60, stdin=data, cwd="/")
    if not r.ok:
        raise SandboxError(f"could not materialise {inst.instance_id} into {root}: {r.output.strip()[-500:]}")
    if inst.deps is None and not inst.pythonpath:
        return
    first = [f"{root}/{p}" for p in inst.pythonpath] + ([DEPS_DIR] if inst.deps is not None else [])
    pth = f"import sys, site; sys.path[:0] = {first!r}; " + \
        (f"site.addsitedir({DEPS_DIR!r})" if inst.deps is not None else "pass")
    script = (f"mkdir -p {DEPS_DIR} && tar -x -C {DEPS_DIR} && "
              "d=$(python3 -c 'import site; print(site.getusersitepackages())') && mkdir -p \"$d\" && "
              f"printf '%s\\n' {shlex.quote(pth)} > \"$d/claw-deps.pth\"")
    deps = _pack_deps(inst.deps) if inst.deps is not None else _EMPTY_TAR
    r = sandbox.exec(script, timeout=120, stdin=deps, cwd="/")
    if not r.ok:
        raise SandboxError(f"could not install {inst.instance_id}'s dependencies into the sandbox "
                           f"({DEPS_DIR}, /tmp must be writable and large enough): {r.output.strip()[-500:]}")
