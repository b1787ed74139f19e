"""Dependencies of a source: found in its static metadata, installed once per (source, version) on the host.

Runtime and test requirements come from ``PKG-INFO`` (``Requires-Dist``, with the ``test``/``tests``/
``testing`` extras), ``pyproject.toml`` (``[project]`` dependencies, those extras, ``[dependency-groups]``),
``setup.cfg``, ``requirements*test*.txt``-style files and ``tox.ini``; ``pytest`` is always added. None of the
package's own code runs for this. They are installed with ``pip install --target`` into
``<cache>/deps/<source>-<hash>/`` (a constraints file pins ``torch==2.13.0`` so no CUDA build is pulled), next to
a metadata stub that makes the package under test look installed (``importlib.metadata``, entry points).
A finished install is marked ``.done`` and reused; a failed one says why and what to pass.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from claw_envs.core.errors import TaskError
from claw_envs.swe.build.source import Source

TEST_EXTRAS = {"test", "tests", "testing"}
CONSTRAINTS = "torch==2.13.0\n"
_REQ_FILES = ("requirements-test*.txt", "requirements_test*.txt", "test-requirements*.txt", "test_requirements*.txt",
              "requirements/test*.txt", "requirements/tests*.txt", "tests/requirements*.txt", "requirements-dev.txt",
              "dev-requirements.txt")


def _sandbox_python() -> tuple[int, int]:
    r = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return sys.version_info[:2]
    a, b = r.stdout.split()
    return int(a), int(b)


def _marker_ok(marker: Marker | None, extras: set[str], py: tuple[int, int]) -> bool:
    if marker is None:
        return True
    env = {"python_version": f"{py[0]}.{py[1]}", "python_full_version": f"{py[0]}.{py[1]}.0",
           "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
           "platform_machine": "x86_64", "implementation_name": "cpython",
           "platform_python_implementation": "CPython"}
    return any(marker.evaluate({**env, "extra": e}) for e in (extras or {""}))


def _add(out: dict[str, str], line: str, extras: set[str], py: tuple[int, int], where: str) -> None:
    line = line.split(" #", 1)[0].strip()
    if not line or line.startswith(("#", "-", ".", "/")) or "{" in line or "://" in line:
        return
    try:
        req = Requirement(line)
    except InvalidRequirement:
        return
    if _marker_ok(req.marker, extras, py):
        req.marker = None
        out.setdefault(canonicalize_name(req.name), str(req))


def _req_file(path: Path, out: dict[str, str], py: tuple[int, int], seen: set[Path]) -> None:
    if path in seen or not path.is_file():
        return
    seen.add(path)
    for line in path.read_text(errors="replace").splitlines():
        s = line.strip()
        if s.startswith(("-r ", "--requirement ")):
            _req_file((path.parent / s.split(None, 1)[1]).resolve(), out, py, seen)
        else:
            _add(out, s, set(), py, str(path))


def find_requirements(src: Source) -> dict[str, str]:
    """Canonical name -> requirement string, for the source's runtime and test dependencies."""
    root, py = src.root, _sandbox_python()
    out: dict[str, str] = {}
    pkg = root / "PKG-INFO"
    if pkg.exists():
        text = pkg.read_text(errors="replace").split("\n\n", 1)[0]
        extras = {canonicalize_name(e) for e in re.findall(r"^Provides-Extra:\s*(\S+)", text, re.M)} & TEST_EXTRAS
        for line in re.findall(r"^Requires-Dist:\s*(.+)$", text, re.M):
            _add(out, line, extras, py, str(pkg))
    pp = root / "pyproject.toml"
    if pp.exists():
        try:
            data = tomllib.loads(pp.read_text())
        except tomllib.TOMLDecodeError as e:
            raise TaskError(f"{pp}: not valid TOML ({e})") from e
        proj = data.get("project", {})
        for line in proj.get("dependencies", []):
            _add(out, line, set(), py, str(pp))
        for extra, lines in proj.get("optional-dependencies", {}).items():
            if canonicalize_name(extra) in TEST_EXTRAS:
                for line in lines:
                    _add(out, line, set(), py, str(pp))
        groups = data.get("dependency-groups", {})

        def group(name: str, depth: int = 0) -> None:
            for item in groups.get(name, []):
                if isinstance(item, dict) and "include-group" in item and depth < 5:
                    group(item["include-group"], depth + 1)
                elif isinstance(item, str):
                    _add(out, item, set(), py, str(pp))

        for g in groups:
            if canonicalize_name(g) in TEST_EXTRAS:
                group(g)
    cfg = root / "setup.cfg"
    if cfg.exists():
        cp = configparser.ConfigParser(interpolation=None)
        try:
            cp.read_string(cfg.read_text(errors="replace"))
        except configparser.Error:
            cp = None
        if cp is not None:
            for line in cp.get("options", "install_requires", fallback="").splitlines():
                _add(out, line, set(), py, str(cfg))
            if cp.has_section("options.extras_require"):
                for extra, lines in cp.items("options.extras_require"):
                    if canonicalize_name(extra) in TEST_EXTRAS:
                        for line in lines.splitlines():
                            _add(out, line, set(), py, str(cfg))
    seen: set[Path] = set()
    for pattern in _REQ_FILES:
        for f in sorted(root.glob(pattern)):
            _req_file(f.resolve(), out, py, seen)
    tox = root / "tox.ini"
    if tox.exists():
        cp = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            cp.read_string(tox.read_text(errors="replace"))
            for line in cp.get("testenv", "deps", fallback="").splitlines():
                _add(out, line.split(":", 1)[-1] if re.match(r"^\s*[\w,-]+:\s", line) else line, set(), py, str(tox))
        except configparser.Error:
            pass
    out.pop(canonicalize_name(src.name), None)
    out.setdefault("pytest", "pytest")
    return dict(sorted(out.items()))


def _stub_metadata(src: Source, target: Path) -> None:
    """``<name>-<version>.dist-info`` for the package under test (whose code is the workspace's), entry points
    from the sdist's egg-info when it has them; any copy pip installed as someone's dependency is removed."""
    norm = canonicalize_name(src.name).replace("-", "_")
    for info in target.glob("*.dist-info"):
        if canonicalize_name(info.name.split("-")[0]) == canonicalize_name(src.name):
            record = info / "RECORD"
            if record.exists():
                for line in record.read_text().splitlines():
                    rel = line.split(",", 1)[0]
                    if rel and not rel.startswith(".."):
                        (target / rel).unlink(missing_ok=True)
            shutil.rmtree(info, ignore_errors=True)
    stub = target / f"{norm}-{src.version or '0'}.dist-info"
    stub.mkdir(exist_ok=True)
    (stub / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {src.name}\nVersion: {src.version or '0'}\n")
    (stub / "INSTALLER").write_text("claw-gym\n")
    egg = src.root.parent / f"{src.key}.egg-info"
    for name in ("entry_points.txt", "top_level.txt"):
        if (egg / name).exists():
            shutil.copy2(egg / name, stub / name)


def install_deps(src: Source, cache: Path, extra: list[str] = (), log=print) -> Path:
    """The installed dependencies of ``src`` (cached). Raises ``TaskError`` with pip's reason on failure."""
    reqs = find_requirements(src)
    for r in extra:
        _add(reqs, r, set(), _sandbox_python(), "--deps")
    digest = hashlib.sha256(json.dumps([src.key, sorted(reqs.values()), 2]).encode()).hexdigest()[:12]
    target = cache / "deps" / f"{src.key}-{digest}"
    done = target.parent / f"{target.name}.done"
    if done.exists() and target.is_dir():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    cons = target.parent / "constraints.txt"
    cons.write_text(CONSTRAINTS)
    py = _sandbox_python()
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-input", "--disable-pip-version-check",
           "--target", str(target), "--prefer-binary", "-c", str(cons), *reqs.values()]
    if py != sys.version_info[:2]:  # wheels for the sandbox's interpreter, not the host's
        cmd[5:5] = ["--python-version", f"{py[0]}.{py[1]}", "--only-binary", ":all:"]
    log(f"installing {len(reqs)} requirement(s) for {src.name} {src.version}: {', '.join(reqs.values())}")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        raise TaskError(f"could not install the dependencies of {src.name} {src.version} "
                        f"({' '.join(reqs.values())}): {r.stderr.strip()[-1500:]}\nPass --deps 'REQ' to add or "
                        "pin requirements.")
    _stub_metadata(src, target)
    (target / "claw-requirements.json").write_text(json.dumps(reqs, indent=1))
    done.write_text(json.dumps({"requirements": reqs}))
    return target
