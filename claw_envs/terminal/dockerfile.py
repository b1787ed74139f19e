"""A task's Dockerfile, applied to a sandbox at reset.

* **local backend**: its steps are replayed inside the sandbox (WORKDIR, ENV, ARG, COPY/ADD, RUN; FROM
  ignored). Steps that cannot work locally (package installs, downloads, ADD from a URL) fail at reset with
  an error that names the step and points to the docker backend: never a silently half-built state.
* **docker backend**: the Dockerfile is built into an image (``claw_envs.sandbox.images.build_task_image``:
  its ``FROM`` mapped to a locally built base, ``RUN apt-get`` reaching the host's Debian mirror, cached by
  content) and the sandbox switches to it; a ``FROM`` with no local stand-in fails at reset saying so.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from claw_envs.core.errors import TaskError
from claw_envs.sandbox.base import Sandbox
from claw_envs.sandbox.session import ShellSession

_NEEDS_NETWORK = re.compile(r"\b(apt-get|apt|apk|yum|dnf|zypper|pacman)\s+(-\S+\s+)*(install|add|update|upgrade)\b"
                            r"|\bpip3?\s+install\b|\buv\s+(pip|add|sync|tool)\b|\bnpm\s+(install|ci|i)\b"
                            r"|\b(curl|wget)\s|\bgit\s+clone\b|\bconda\s+install\b")
_IGNORED = {"FROM", "CMD", "ENTRYPOINT", "EXPOSE", "LABEL", "MAINTAINER", "VOLUME", "STOPSIGNAL",
            "HEALTHCHECK", "SHELL", "ONBUILD", "USER"}


@dataclass(frozen=True)
class Step:
    line: int
    instruction: str
    args: str

    def __str__(self) -> str:
        return f"{self.instruction} {self.args}".strip()


def parse_dockerfile(text: str) -> list[Step]:
    """Split a Dockerfile into steps (continuation lines joined, comments dropped)."""
    steps: list[Step] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        instr, _, args = buf.strip().partition(" ")
        steps.append(Step(start, instr.upper(), args.strip()))
        buf = ""
    if buf:
        instr, _, args = buf.strip().partition(" ")
        steps.append(Step(start, instr.upper(), args.strip()))
    return steps


def _json_or_shell(args: str) -> list[str]:
    if args.startswith("["):
        try:
            v = json.loads(args)
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                return v
        except json.JSONDecodeError:
            pass
    return shlex.split(args)


def _env_pairs(args: str) -> list[tuple[str, str]]:
    parts = shlex.split(args)
    if parts and "=" not in parts[0]:
        return [(parts[0], " ".join(parts[1:]))]
    return [tuple(p.split("=", 1)) for p in parts if "=" in p]  # type: ignore[misc]


def replay(dockerfile: Path, sandbox: Sandbox, session: ShellSession, timeout: float = 300.0) -> str:
    """Apply the Dockerfile to a started sandbox (see the module docstring); returns the final WORKDIR."""
    if getattr(sandbox, "backend", None) == "docker":
        return _use_image(dockerfile, sandbox)
    context = dockerfile.parent
    workdir = "/"

    def fail(step: Step, why: str) -> TaskError:
        return TaskError(f"{dockerfile}:{step.line}: step `{step}` {why}. This task needs the docker backend "
                         "(backend='docker' with the image built from this Dockerfile).")

    for step in parse_dockerfile(dockerfile.read_text()):
        if step.instruction in _IGNORED:
            continue
        if step.instruction == "WORKDIR":
            workdir = step.args if step.args.startswith("/") else f"{workdir.rstrip('/')}/{step.args}"
            r = session.run(f"mkdir -p -- {shlex.quote(workdir)} && cd -- {shlex.quote(workdir)}")
            if not r.ok:
                raise fail(step, f"failed: {r.output.strip()}")
        elif step.instruction in ("ENV", "ARG"):
            for k, v in _env_pairs(step.args):
                if step.instruction == "ARG" and not v:
                    continue
                session.export(k, v)
        elif step.instruction in ("COPY", "ADD"):
            parts = [p for p in _json_or_shell(step.args) if not p.startswith("--")]
            if len(parts) < 2:
                raise fail(step, "needs a source and a destination")
            *srcs, dest = parts
            if not dest.startswith("/"):
                dest = f"{workdir.rstrip('/')}/{dest}"
            for src in srcs:
                if "://" in src:
                    raise fail(step, "downloads a URL, which the local backend cannot do (no network)")
                _copy_in(context, src, dest, multiple=len(srcs) > 1 or dest.endswith("/"), sandbox=sandbox,
                         on_error=lambda why, s=step: fail(s, why))
        elif step.instruction == "RUN":
            cmd = " ".join(_json_or_shell(step.args)) if step.args.startswith("[") else step.args
            if _NEEDS_NETWORK.search(cmd):
                raise fail(step, "installs or downloads software, which the local backend cannot do (no network)")
            r = session.run(cmd, timeout=timeout)
            if not r.ok:
                raise fail(step, f"exited with {r.exit_code}{' (timed out)' if r.timed_out else ''}: "
                                 f"{r.output.strip()[-500:]}")
        else:
            raise fail(step, f"uses {step.instruction}, which the local replay does not support")
    return workdir


def _use_image(dockerfile: Path, sandbox) -> str:
    """Docker backend: build the task's image (cached) and run the sandbox from it; returns its WORKDIR."""
    from claw_envs.core.errors import SandboxError
    from claw_envs.sandbox.images import build_task_image

    try:
        tag = build_task_image(dockerfile)
    except SandboxError as e:
        raise TaskError(f"{dockerfile}: the task's image could not be built: {e}") from e
    sandbox.use_image(tag)
    workdir = "/"
    for step in parse_dockerfile(dockerfile.read_text()):
        if step.instruction == "WORKDIR":
            workdir = step.args if step.args.startswith("/") else f"{workdir.rstrip('/')}/{step.args}"
        elif step.instruction == "FROM":
            workdir = "/"
    return workdir


def _copy_in(context: Path, src: str, dest: str, multiple: bool, sandbox: Sandbox, on_error) -> None:
    """Copy ``src`` (a path or glob in the build context) to ``dest`` in the sandbox.

    Links are followed only while they stay inside the context: a symbolic link (at any depth, to a file
    or a folder) whose target leaves it, a dangling or looping link, and a hard-linked file (which could be
    a second name of any file on the host) are refused, naming the path.
    """
    root = context.resolve()
    matches = sorted(context.glob(src)) if any(c in src for c in "*?[") else [context / src]
    for m in matches:
        m_res = _inside(root, m, src, on_error)
        if not m_res.exists():
            raise on_error(f"copies {src}, which does not exist in {context}")
        if m_res.is_dir():
            for rel, f in _walk(root, m, set(), on_error):
                sandbox.write_file(f"{dest.rstrip('/')}/{rel}", f.read_bytes(), mode=f.stat().st_mode & 0o777)
        else:
            target = f"{dest.rstrip('/')}/{m.name}" if multiple else dest
            sandbox.write_file(target, _regular(m_res, src, on_error).read_bytes(),
                               mode=m_res.stat().st_mode & 0o777)


def _inside(root: Path, p: Path, src: str, on_error) -> Path:
    """``p`` with every link resolved, or an error when that leaves ``root`` (or cannot be resolved)."""
    try:
        res = p.resolve(strict=p.is_symlink())
    except (OSError, RuntimeError) as e:
        raise on_error(f"copies {src}: the link {p} cannot be resolved ({e})") from e
    if res != root and root not in res.parents:
        raise on_error(f"copies {src}: {p.relative_to(root) if root in p.parents else p} is outside the build "
                       f"context (it links to {res}); links may only point inside the task's folder")
    return res


def _regular(p: Path, src: str, on_error) -> Path:
    st = p.stat()
    if st.st_nlink > 1:
        raise on_error(f"copies {src}: {p} is a hard link (it has {st.st_nlink} names, one of which may be "
                       "outside the build context); replace it with a copy")
    return p


def _walk(root: Path, d: Path, seen: set[Path], on_error, prefix: str = ""):
    """(relative path, resolved file) under folder ``d``, links checked; each real folder visited once."""
    real = _inside(root, d, str(d), on_error)
    if real in seen:
        return
    seen.add(real)
    for entry in sorted(d.iterdir()):
        res = _inside(root, entry, str(entry.relative_to(root) if root in entry.parents else entry), on_error)
        rel = f"{prefix}{entry.name}"
        if res.is_dir():
            yield from _walk(root, entry, seen, on_error, rel + "/")
        elif res.is_file():
            yield rel, _regular(res, rel, on_error)
