"""Docker images for the docker backend, built offline: no registry is needed (or reachable).

* **base** (``claw-gym/base:bookworm``): ``debootstrap --variant=minbase bookworm DIR MIRROR`` with the
  packages ``env_images/terminal`` needs (``--include``), then ``tar -C DIR -c . | docker import -``. MIRROR
  is the host's own Debian mirror (read from ``/etc/apt/sources.list.d/*.sources`` or ``sources.list``).
* **flavours** of the base that stand in for common ``FROM`` images (``FROM_MAP``; see ``map_from``), e.g.
  ``python:3.11-slim`` -> ``claw-gym/python:3.11`` (Debian bookworm's Python 3.11 with pip and venv).
* every image in ``env_images/`` (``terminal`` by default; ``gui`` on request), with its ``FROM`` mapped the
  same way, built with ``docker build --network host --force-rm`` (host network: a ``RUN apt-get`` reaches the
  mirror; ``--force-rm``: a failed build leaves no container behind).
* task images: a Harbor task's ``environment/Dockerfile`` (``build_task_image``), ``FROM`` mapped, plus a
  tail that makes ``/app``, ``/logs``, ``/tests`` and ``/root`` 1777 and keeps a copy of their contents in
  ``/.claw-seed`` (the container's tmpfs mounts would hide them; the backend copies the seed in at start).

Every image is cached by content: it carries the label ``claw-gym.hash`` (a hash of its Dockerfile, its
build context's files and the id of the image it is built on), and a build whose hash matches the existing
image is skipped, so a second ``claw images build`` is a few ``docker image inspect`` calls (well under a
second). ``claw images build [--force] [--mirror URL] [NAME ...]`` is the command line.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from claw_envs.core.errors import SandboxError

REPO = Path(__file__).resolve().parents[2]
ENV_IMAGES = REPO / "env_images"
SUITE = "bookworm"
BASE = f"claw-gym/base:{SUITE}"
PYTHON = "claw-gym/python:3.11"
DEFAULT_IMAGES = ("terminal",)
BASE_PACKAGES = ("bash", "coreutils", "findutils", "grep", "sed", "gawk", "tar", "gzip", "bzip2", "xz-utils",
                 "zip", "unzip", "jq", "file", "bc", "patch", "diffutils", "git", "python3", "procps", "sqlite3",
                 "perl", "ca-certificates", "passwd")
_BUILDER_VERSION = "1"  # bump to rebuild every image (a change in how they are built)
LABEL = "claw-gym.hash"

_PYTHON_DOCKERFILE = f"""FROM {BASE}
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip python3-venv python-is-python3 \\
    && rm -rf /var/lib/apt/lists/* && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED && ln -sf pip3 /usr/bin/pip
"""

# FROM image (registry prefix, digest and --platform dropped) -> local image. A name matches an entry exactly
# or, for entries ending in '*', by prefix. Ubuntu maps onto Debian bookworm: most Ubuntu package names exist
# there too; a package that does not fails the build with apt's own message.
FROM_MAP: dict[str, str] = {
    "debian:bookworm": BASE, "debian:bookworm-slim": BASE, "debian:12": BASE, "debian:12-slim": BASE,
    "ubuntu:22.04": BASE, "ubuntu:24.04": BASE, "ubuntu:jammy": BASE, "ubuntu:noble": BASE,
    "buildpack-deps:bookworm*": BASE,
    "python:3.11": PYTHON, "python:3.11-slim": PYTHON, "python:3.11-bookworm": PYTHON,
    "python:3.11-slim-bookworm": PYTHON, "python:3.11.*": PYTHON,
    BASE: BASE, PYTHON: PYTHON,
}

Progress = Callable[[str], None]
_lock = threading.Lock()


def _quiet(_: str) -> None:
    pass


def _docker(*args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["docker", *args], input=stdin, capture_output=True, timeout=timeout)
    except FileNotFoundError as e:
        raise SandboxError("the `docker` command line is not installed (apt-get install docker.io)") from e


def images_unavailable() -> str | None:
    """Why images cannot be built here (no engine, no debootstrap, not root), or None when they can."""
    from claw_envs.sandbox.docker import docker_unavailable

    why = docker_unavailable()
    if why:
        return why + ". Start one (scripts/setup.sh does: dockerd --iptables=false --bridge=none)"
    return None


def host_mirror() -> str:
    """The host's Debian mirror (the first ``deb.debian.org``-style URI of its apt sources)."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")) + ["/etc/apt/sources.list"]:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        for m in re.finditer(r"^(?:URIs:\s*(\S+)|deb\s+(?:\[[^\]]*\]\s+)?(\S+))", text, re.M):
            uri = m.group(1) or m.group(2)
            if uri and "security" not in uri:
                return uri.rstrip("/")
    return "http://deb.debian.org/debian"


def _labels(*tags: str) -> dict[str, tuple[str, str]]:
    """tag -> (image id, content hash label) for the tags that exist."""
    out = {}
    for tag in tags:
        r = _docker("image", "inspect", "--format", "{{.Id}} {{index .Config.Labels \"" + LABEL + "\"}}", tag)
        if r.returncode == 0:
            parts = r.stdout.decode().split()
            out[tag] = (parts[0], parts[1] if len(parts) > 1 else "")
    return out


def _hash(*parts: bytes | str) -> str:
    h = hashlib.sha256(_BUILDER_VERSION.encode())
    for p in parts:
        h.update(b"\0" + (p.encode() if isinstance(p, str) else p))
    return h.hexdigest()


def _stream(argv: list[str], step: str, progress: Progress, stdin=None, cwd: str | None = None) -> None:
    """Run ``argv``, reporting its output lines; raise SandboxError with the tail of the output on failure."""
    tail: list[str] = []
    proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd)
    for raw in proc.stdout:  # type: ignore[union-attr]
        line = raw.decode(errors="replace").rstrip()
        if line:
            tail = (tail + [line])[-30:]
            progress(f"{step}: {line[:100]}")
    if proc.wait() != 0:
        raise SandboxError(f"{step} failed (exit {proc.returncode}):\n" + "\n".join(tail))


def ensure_base(*, mirror: str | None = None, force: bool = False, progress: Progress = _quiet) -> str:
    """Build ``BASE`` with debootstrap + ``docker import`` unless an image with the same hash exists."""
    mirror = mirror or host_mirror()
    want = _hash("base", SUITE, ",".join(BASE_PACKAGES))  # the mirror is where, not what: not hashed
    if not force and _labels(BASE).get(BASE, ("", ""))[1] == want:
        return BASE
    why = images_unavailable()
    if why:
        raise SandboxError(why)
    if os.geteuid() != 0:
        raise SandboxError("building the base image runs debootstrap, which needs root: run "
                           "`sudo claw images build` (or `make images`) once; later builds reuse it")
    if shutil.which("debootstrap") is None:
        raise SandboxError("debootstrap is not installed: apt-get install debootstrap (scripts/setup.sh does)")
    with tempfile.TemporaryDirectory(prefix="claw-rootfs-", dir=os.environ.get("CLAW_BUILD_DIR")) as d:
        root = f"{d}/root"
        _stream(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, root, mirror],
                f"debootstrap {SUITE} from {mirror}", progress)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in Path(root, junk).glob("*"):
                if p.is_file():
                    p.unlink()
        tar = subprocess.Popen(["tar", "-C", root, "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        try:
            _stream(["docker", "import", "--change", f"LABEL {LABEL}={want}", "--change",
                     "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "--change",
                     "ENV LANG=C.UTF-8", "-", BASE], "docker import", progress, stdin=tar.stdout)
        finally:
            tar.stdout.close()  # type: ignore[union-attr]
            tar.wait()
    return BASE


def _sources(dockerfile_text: str, context: Path) -> list[Path]:
    """The paths in ``context`` that the Dockerfile's COPY/ADD steps read (``--from`` stages excluded)."""
    from claw_envs.terminal.dockerfile import parse_dockerfile

    srcs: list[str] = []
    for step in parse_dockerfile(dockerfile_text):
        if step.instruction in ("COPY", "ADD") and "--from" not in step.args:
            parts = [p for p in step.args.replace("[", " ").replace("]", " ").replace(",", " ").replace('"', " ")
                     .split() if not p.startswith("--")]
            srcs += parts[:-1]
    out: list[Path] = []
    for src in sorted(set(srcs)):
        out += sorted(context.glob(src.lstrip("/")) if any(c in src for c in "*?[") else [context / src])
    return [p for p in out if p.exists()]


def _context_hash(dockerfile_text: str, context: Path) -> str:
    """Hash of the files a Dockerfile's COPY/ADD steps read from ``context``."""
    h = hashlib.sha256()
    for p in _sources(dockerfile_text, context):
        files = sorted(x for x in p.rglob("*") if x.is_file() and "__pycache__" not in x.parts) if p.is_dir() \
            else [p]
        for f in files:
            h.update(str(f.relative_to(context)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _minimal_context(dockerfile_text: str, context: Path, into: Path) -> None:
    """Copy only what the COPY/ADD steps read into ``into`` (a repository-root context stays small)."""
    for p in _sources(dockerfile_text, context):
        dst = into / p.relative_to(context)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if p.is_dir():
            shutil.copytree(p, dst, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(p, dst, follow_symlinks=False)


def map_from(image: str) -> str:
    """The local image that stands in for ``FROM image``; SandboxError when none can be built offline."""
    name = re.sub(r"^(docker\.io/)?(library/)?", "", image.split("@")[0])
    if name in FROM_MAP:
        return FROM_MAP[name]
    if name.startswith("claw-gym/"):  # built here (claw images build, a task image): used as it is
        return name
    for key, local in FROM_MAP.items():
        if key.endswith("*") and name.startswith(key[:-1]):
            return local
    known = ", ".join(sorted(k for k in FROM_MAP if not k.startswith("claw-gym/")))
    raise SandboxError(f"FROM {image} cannot be built offline: no registry is reachable here, and only these "
                       f"images have a locally built stand-in (claw_envs/sandbox/images.py FROM_MAP): {known}. "
                       "Change the task's Dockerfile to one of them, or add a mapping to an image you build locally")


def rewrite_from(text: str) -> tuple[str, list[str]]:
    """``text`` with every external ``FROM`` replaced by its local stand-in; returns (text, local bases)."""
    stages: set[str] = set()
    bases: list[str] = []
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\s*FROM\s+)((?:--\S+\s+)*)(\S+)(\s+AS\s+(\S+))?\s*$", line, re.I)
        if m:
            image = m.group(3)
            if image not in stages:
                local = map_from(image)
                bases.append(local)
                line = f"{m.group(1)}{local}{m.group(4) or ''}"
            if m.group(5):
                stages.add(m.group(5))
        out.append(line)
    if not bases and not stages:
        raise SandboxError("the Dockerfile has no FROM line")
    return "\n".join(out) + "\n", bases


def _ensure_local(base: str, *, mirror: str | None, force: bool, progress: Progress) -> str:
    ensure_base(mirror=mirror, force=force and base == BASE, progress=progress)
    if base == PYTHON:
        build(_PYTHON_DOCKERFILE, ENV_IMAGES, PYTHON, force=force, progress=progress)
    return base


def build(dockerfile_text: str, context: Path, tag: str, *, mirror: str | None = None, force: bool = False,
          progress: Progress = _quiet) -> str:
    """Build ``dockerfile_text`` (its FROM lines mapped) with ``context`` as ``tag``, unless cached."""
    text, bases = rewrite_from(dockerfile_text)
    for b in dict.fromkeys(bases):
        _ensure_local(b, mirror=mirror, force=False, progress=progress)
    ids = _labels(*dict.fromkeys(bases), tag)
    want = _hash(text, _context_hash(dockerfile_text, context), *(ids.get(b, ("?",))[0] for b in bases))
    if not force and ids.get(tag, ("", ""))[1] == want:
        return tag
    why = images_unavailable()
    if why:
        raise SandboxError(why)
    with tempfile.TemporaryDirectory(prefix="claw-build-") as d:
        _minimal_context(dockerfile_text, context, Path(d) / "ctx")
        (Path(d) / "ctx").mkdir(exist_ok=True)
        (Path(d) / "Dockerfile").write_text(text + f"LABEL {LABEL}={want}\n")
        _stream(["docker", "build", "--network", "host", "--force-rm", "-t", tag, "-f", f"{d}/Dockerfile",
                 f"{d}/ctx"], f"docker build {tag}", progress)
    return tag


def ensure_image(name: str = "terminal", *, mirror: str | None = None, force: bool = False,
                 progress: Progress = _quiet) -> str:
    """Build ``env_images/<name>`` (and what it stands on) unless cached; returns its tag."""
    df = ENV_IMAGES / name / "Dockerfile"
    if not df.is_file():
        have = ", ".join(sorted(p.name for p in ENV_IMAGES.iterdir() if (p / "Dockerfile").is_file()))
        raise SandboxError(f"no image {name!r} in {ENV_IMAGES}: choose one of {have}")
    text = df.read_text()
    m = re.search(r"^#\s*context:\s*(\S+)", text, re.M)  # a Dockerfile may name its build context (repo root)
    context = (REPO / m.group(1)).resolve() if m else df.parent
    with _lock:
        return build(text, context, f"claw-gym/{name}:latest", mirror=mirror, force=force, progress=progress)


SEED_PATHS = ("/app", "/root", "/logs", "/tests")


def build_task_image(dockerfile: Path, *, progress: Progress = _quiet) -> str:
    """Build a task's Dockerfile (Harbor ``environment/Dockerfile``) for the docker backend; returns its tag.

    The image gets a tail that makes the usual writable directories 1777 and copies what the Dockerfile put
    in them (and in the top directories of its WORKDIR/COPY destinations) to ``/.claw-seed``: the sandbox
    mounts size-capped tmpfs file systems there and seeds them from that copy when a container starts.
    """
    from claw_envs.terminal.dockerfile import parse_dockerfile

    text = dockerfile.read_text()
    tops = set(SEED_PATHS)
    for step in parse_dockerfile(text):
        if step.instruction in ("WORKDIR", "COPY", "ADD") and step.args:
            dest = step.args.split()[-1] if step.instruction != "WORKDIR" else step.args
            if dest.startswith("/") and dest.strip("/"):
                top = "/" + dest.strip("/").split("/")[0]
                if top not in ("/usr", "/etc", "/run", "/bin", "/lib", "/sbin", "/var", "/proc", "/dev", "/sys"):
                    tops.add(top)
    dirs = " ".join(sorted(tops))
    tail = ("\nUSER root\nRUN mkdir -p /app /logs /tests /root /run/claw /.claw-seed && chmod 1777 /app /logs /tests /root /run/claw "
            f"&& for d in {dirs}; do if [ -d \"$d\" ] && [ -n \"$(ls -A \"$d\")\" ]; then "
            "mkdir -p \"/.claw-seed$d\" && cp -a \"$d/.\" \"/.claw-seed$d/\"; fi; done "
            "&& chmod -R a+rX /.claw-seed\n")
    slug = re.sub(r"[^a-z0-9_.-]+", "-", dockerfile.parent.parent.name.lower()).strip("-.") or "task"
    h = _hash(text, _context_hash(text, dockerfile.parent))[:12]
    with _lock:
        return build(text + tail, dockerfile.parent, f"claw-gym/task-{slug}:{h}", progress=progress)


def build_images(names: tuple[str, ...] | list[str] = DEFAULT_IMAGES, *, mirror: str | None = None,
                 force: bool = False, progress: Progress = _quiet) -> dict[str, str]:
    """Build the base and ``names`` from ``env_images/``; returns name -> tag."""
    out = {"base": ensure_base(mirror=mirror, force=force, progress=progress)}
    for name in names:
        out[name] = ensure_image(name, mirror=mirror, force=force, progress=progress)
    return out


def main(argv: list[str] | None = None) -> int:
    """``claw images build [--force] [--mirror URL] [NAME ...]`` (``argv`` is what follows ``images build``)."""
    import time

    from rich.console import Console
    from rich.markup import escape

    b = argparse.ArgumentParser(prog="claw images build", description="build the docker backend's images offline: "
                                "debootstrap the base image, then env_images/ (each cached by a hash of its content)")
    b.add_argument("names", nargs="*", default=list(DEFAULT_IMAGES), help="images in env_images/ (default: terminal)")
    b.add_argument("--mirror", default=None, help=f"Debian mirror (default: the host's, {host_mirror()})")
    b.add_argument("--force", action="store_true", help="rebuild even when the content hash matches")
    args = b.parse_args(argv)
    console = Console()
    t0 = time.monotonic()
    try:
        with console.status("checking images...") as status:
            tags = build_images(args.names, mirror=args.mirror, force=args.force,
                                progress=lambda s: status.update(s.replace("[", "\\[")))
    except SandboxError as e:
        console.print(f"[red]claw images build failed:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        return 1
    for name, tag in tags.items():
        console.print(f"{name}: {tag}", highlight=False)
    console.print(f"done in {time.monotonic() - t0:.1f} s", highlight=False)
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[2:] if sys.argv[1:2] == ["build"] else sys.argv[1:]))
