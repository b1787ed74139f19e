"""Sources of instances: a PyPI sdist, a local repository at its current state, or a repository at a commit.

A ``Source`` is a folder holding the code as it will be materialised (its own ``.git`` kept when it has one),
plus what the build learnt about it: name, version, layout (``src/`` or flat), test folders. PyPI downloads
go through the JSON API (the sdist's URL and sha256), are verified and unpacked without running any of the
package's code; nothing of the package runs on the host.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from claw_envs.core.errors import TaskError
from claw_envs.swe.workspace import GIT_ENV

PYPI = "https://pypi.org/pypi"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".tox", ".nox", ".venv", "venv",
                               "*.egg-info", "build", "dist", ".mypy_cache")


@dataclass
class Source:
    """Code to build instances from. ``root`` is the tree; ``key`` names it in caches and instance ids."""

    name: str
    version: str
    root: Path
    kind: str  # pypi | repo | commit
    key: str
    pythonpath: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    @property
    def repo_name(self) -> str:
        """The ``repo`` field of its instances (``owner/name`` for SWE-bench; ``pypi/<name>`` for sdists)."""
        return self.meta.get("repo") or f"{self.kind}/{self.name}"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-").lower() or "x"


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always", *args],
                       cwd=cwd, env=GIT_ENV, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise TaskError(f"git {' '.join(args)} failed in {cwd}: {r.stderr.strip()[-500:]}")
    return r


def detect_pythonpath(root: Path, name: str = "") -> tuple[str, ...]:
    """``("src",)`` for a ``src/`` layout (a package under ``src/`` and none at the root), else ()."""
    src = root / "src"
    if src.is_dir() and any((p / "__init__.py").exists() or p.suffix == ".py" for p in src.iterdir()):
        mod = name.replace("-", "_").lower()
        if not mod or not (root / mod).exists():
            return ("src",)
    return ()


def _pypi_json(name: str, version: str) -> dict:
    """The project's JSON (the release's files under ``urls``). The per-release endpoint is tried first; the
    project endpoint (``releases``) serves when a mirror lacks it."""
    last: Exception | None = None
    for url in (f"{PYPI}/{name}/{version}/json", f"{PYPI}/{name}/json"):
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                data = json.load(r)
        except Exception as e:  # noqa: BLE001 - any network failure becomes a clear build error
            last = e
            continue
        if url.endswith(f"/{version}/json"):
            return data
        if version not in data.get("releases", {}):
            known = list(data.get("releases", {}))[-8:]
            raise TaskError(f"{name} has no release {version} on PyPI (latest: {', '.join(known)})")
        return {**data, "urls": data["releases"][version]}
    raise TaskError(f"could not read {PYPI}/{name}/json ({last}); PyPI must be reachable for --pypi") from last


def _safe_members(names: list[str], dest: Path) -> None:
    for n in names:
        target = (dest / n).resolve()
        if not str(target).startswith(str(dest.resolve())):
            raise TaskError(f"refusing to unpack {n!r}: it points outside the target folder")


def fetch_pypi(spec: str, cache: Path) -> Source:
    """Download and unpack the sdist of ``NAME==VERSION`` (cached under ``cache/sdists``)."""
    if "==" not in spec:
        raise TaskError(f"--pypi {spec!r}: give an exact version, NAME==VERSION (e.g. attrs==24.2.0)")
    name, version = (x.strip() for x in spec.split("==", 1))
    key = f"{slug(name)}-{slug(version)}"
    root = cache / "sources" / key
    done = root.parent / f"{key}.done"
    if done.exists() and root.is_dir():
        return Source(name, version, root, "pypi", key, detect_pythonpath(root, name), json.loads(done.read_text()))
    info = _pypi_json(name, version)
    sdists = [u for u in info.get("urls", []) if u.get("packagetype") == "sdist"]
    if not sdists:
        raise TaskError(f"{name}=={version} has no sdist on PyPI (only wheels, which hold no tests); pick "
                        "another version or use --repo PATH with a checkout of its repository")
    u = dict(sdists[0])
    u["url"] = urllib.parse.urljoin(f"{PYPI}/{name}/json", u["url"])  # mirrors may serve relative URLs
    archive = cache / "sdists" / u["filename"]
    archive.parent.mkdir(parents=True, exist_ok=True)
    if not archive.exists():
        try:
            with urllib.request.urlopen(u["url"], timeout=300) as r:
                data = r.read()
        except Exception as e:  # noqa: BLE001 - any network failure becomes a clear build error
            raise TaskError(f"could not download {u['url']} ({e})") from e
        if hashlib.sha256(data).hexdigest() != u["digests"]["sha256"]:
            raise TaskError(f"{u['url']}: sha256 mismatch; the download is corrupt")
        tmp = archive.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.rename(archive)
    unpack = cache / "sources" / f"{key}.unpack"
    shutil.rmtree(unpack, ignore_errors=True)
    unpack.mkdir(parents=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            _safe_members(z.namelist(), unpack)
            z.extractall(unpack)
    else:
        with tarfile.open(archive) as t:
            t.extractall(unpack, filter="data")
    tops = [p for p in unpack.iterdir()]
    top = tops[0] if len(tops) == 1 and tops[0].is_dir() else unpack
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(top, root, ignore=_SKIP, symlinks=False)
    for egg in top.glob("*.egg-info"):  # kept aside: its entry points describe the installed package
        shutil.copytree(egg, root.parent / f"{key}.egg-info", dirs_exist_ok=True)
    shutil.rmtree(unpack)
    meta = {"repo": f"pypi/{name}", "sdist": u["url"], "sha256": u["digests"]["sha256"],
            "requires_python": info["info"].get("requires_python")}
    done.write_text(json.dumps(meta))
    return Source(name, version, root, "pypi", key, detect_pythonpath(root, name), meta)


def _read_name(root: Path) -> tuple[str, str]:
    """(name, version) from static metadata (PKG-INFO, pyproject.toml, setup.cfg); ('', '') when unknown."""
    pkg = root / "PKG-INFO"
    if pkg.exists():
        text = pkg.read_text(errors="replace")
        n = re.search(r"^Name:\s*(\S+)", text, re.M)
        v = re.search(r"^Version:\s*(\S+)", text, re.M)
        return (n.group(1) if n else "", v.group(1) if v else "")
    pp = root / "pyproject.toml"
    if pp.exists():
        import tomllib

        try:
            proj = tomllib.loads(pp.read_text()).get("project", {})
            return str(proj.get("name", "")), str(proj.get("version", ""))
        except tomllib.TOMLDecodeError:
            pass
    cfg = root / "setup.cfg"
    if cfg.exists():
        n = re.search(r"^name\s*=\s*(\S+)", cfg.read_text(errors="replace"), re.M)
        if n:
            return n.group(1), ""
    setup = root / "setup.py"  # read as text, never run
    if setup.exists():
        n = re.search(r"""\bname\s*=\s*['"]([A-Za-z0-9_.-]+)['"]""", setup.read_text(errors="replace"))
        if n:
            return n.group(1), ""
    return "", ""


def local_repo(path: Path, cache: Path) -> Source:
    """A local repository at its current state (a git checkout: HEAD plus uncommitted changes; or a plain
    folder), copied under ``cache/sources`` (a git checkout as a one-commit shallow clone plus its changes)."""
    path = path.resolve()
    if not path.is_dir():
        raise TaskError(f"--repo {path}: no such folder")
    name, version = _read_name(path)
    name = name or path.name
    git = (path / ".git").exists()
    head = _git(path, "rev-parse", "HEAD").stdout.strip() if git else ""
    version = version or (head[:12] if head else "local")
    key = f"{slug(name)}-{slug(version)}"
    root = cache / "sources" / key
    shutil.rmtree(root, ignore_errors=True)
    if git:
        shallow_clone(path, head, root)
        dirty = _git(path, "status", "--porcelain").stdout.strip()
        if dirty:  # the current state: tracked changes and untracked files on top of HEAD (committed at pack)
            files = _git(path, "ls-files", "-co", "--exclude-standard", "-z").stdout.split("\0")
            for f in filter(None, files):
                src, dst = path / f, root / f
                if src.is_file():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
            for f in filter(None, _git(path, "ls-files", "-d", "-z").stdout.split("\0")):
                (root / f).unlink(missing_ok=True)
    else:
        shutil.copytree(path, root, ignore=_SKIP, symlinks=True)
    return Source(name, version, root, "repo", key, detect_pythonpath(root, name),
                  {"repo": f"local/{slug(name)}", "path": str(path), "head": head})


def shallow_clone(repo: Path, commit: str, dest: Path) -> None:
    """``dest``: a one-commit (shallow) clone of ``repo`` at ``commit``, so its HEAD is the real commit id."""
    dest.mkdir(parents=True)
    _git(dest, "init", "-q")
    r = _git(dest, "fetch", "-q", "--depth", "1", f"file://{repo}", commit, check=False)
    if r.returncode != 0:
        raise TaskError(f"could not fetch {commit} from {repo}: {r.stderr.strip()[-300:]}")
    _git(dest, "checkout", "-q", "FETCH_HEAD")
    _git(dest, "reflog", "expire", "--expire=now", "--all")
