"""Docker sandbox: the sandbox protocol in a container, driven through the ``docker`` command line.

NOT YET RUN AGAINST A DOCKER ENGINE: no engine is available where this project is developed. The shared
conformance suite (``tests/test_sandbox_conformance.py``) runs on it wherever ``docker version`` reaches
an engine, and skips with the reason otherwise.

The container runs ``sleep infinity`` (under ``--init``) from ``config.image`` (build
``env_images/terminal/Dockerfile``) as uid 1000 with no network (``--network none``), a read-only root,
size-capped tmpfs mounts for ``config.writable`` (and ``/run/claw``), memory / pids / CPU limits, all
capabilities dropped, ``no-new-privileges`` and Docker's default seccomp profile.

* Every command runs as ``docker exec`` of ``timeout -s KILL`` around ``bash -c`` (GNU timeout leads its
  own process group and kills all of it); the host also holds a deadline a few seconds later: if the
  ``docker`` client has not returned by then it is killed, the command's process group inside the
  container is killed by its recorded id, and the result is a timeout.
* Files move through ``exec`` as tar streams on stdin/stdout (``tar -x`` / ``tar -c`` in the container), so
  they land in tmpfs mounts and never need the engine's archive API (which cannot write into tmpfs on a
  read-only root). Output is capped per stream like the local backend.
"""

from __future__ import annotations

import io
import shlex
import shutil
import tarfile
import uuid

from claw_envs.core.errors import SandboxError
from claw_envs.sandbox._proc import capture, run_capped
from claw_envs.sandbox.base import ExecResult, SandboxConfig, parse_size

HOST_GRACE = 5.0  # seconds past a command's timeout before the host gives up on the docker client
_AGENT = "1000:1000"


def docker_unavailable() -> str | None:
    """Why the docker backend cannot run here (no CLI, no engine answering), or None when it can."""
    if shutil.which("docker") is None:
        return "the `docker` command line is not installed"
    r = run_capped(["docker", "version", "--format", "{{.Server.Version}}"], timeout=10, output_limit=4096)
    if not r.ok or not r.stdout.strip():
        why = "timed out" if r.timed_out else (r.stderr.strip().splitlines() or ["no answer"])[-1][:200]
        return f"no Docker engine answers ({why}); the docker backend is tested where one runs"
    return None


class DockerSandbox:
    """See the module docstring. Same protocol and ``SandboxConfig`` as ``LocalSandbox``."""

    backend = "docker"

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self._cid: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._cid is not None:
            return
        reason = docker_unavailable()
        if reason:
            raise SandboxError(f"{reason}; use backend='local'")
        c = self.config
        args = ["docker", "run", "-d", "--init", "--user", _AGENT, "--workdir", c.workdir,
                "--network", "bridge" if c.network else "none", "--read-only", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--memory", str(parse_size(c.memory)),
                "--pids-limit", str(c.max_processes), "--cpus", "1",
                "--ulimit", f"nofile={c.max_open_files}:{c.max_open_files}",
                "--ulimit", f"cpu={c.cpu_seconds}:{c.cpu_seconds}",
                "--ulimit", f"fsize={parse_size(c.max_file_size)}:{parse_size(c.max_file_size)}"]
        for path, size in {**c.writable, "/run/claw": "4m"}.items():
            args += ["--tmpfs", f"{path}:rw,exec,size={parse_size(size)},mode=1777"]
        for k, v in c.env.items():
            args += ["-e", f"{k}={v}"]
        args += [c.image, "sleep", "infinity"]
        r = run_capped(args, timeout=120, output_limit=1 << 16)
        if not r.ok:
            raise SandboxError(f"could not start a container from {c.image!r}: {r.output.strip()[-500:]}. "
                               f"Build it with `docker build -t {c.image} env_images/terminal`.")
        self._cid = r.stdout.strip().splitlines()[-1]

    def close(self) -> None:
        if self._cid is not None:
            run_capped(["docker", "rm", "-f", self._cid], timeout=60, output_limit=4096)
            self._cid = None

    def reset(self) -> None:
        self.close()
        self.start()

    def __enter__(self) -> DockerSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands ----------------------------------------------------------------------------------
    def _exec_argv(self, argv: list[str], *, stdin: bool, env: dict[str, str] | None = None) -> list[str]:
        if self._cid is None:
            raise SandboxError("the sandbox is not running: call start() (or reset()) first")
        out = ["docker", "exec", "-u", _AGENT, "-w", "/"] + (["-i"] if stdin else [])
        for k, v in (env or {}).items():
            out += ["-e", f"{k}={v}"]
        return [*out, self._cid, *argv]

    def exec(self, cmd: str, timeout: float | None = None, *, cwd: str | None = None,
             env: dict[str, str] | None = None, stdin: bytes | None = None) -> ExecResult:
        t = timeout or self.config.timeout
        d = shlex.quote(cwd or self.config.workdir)
        script = f"cd -- {d} 2>/dev/null || {{ echo \"no such directory: \"{d} >&2; exit 1; }}\n{cmd}"
        pgfile = f"/run/claw/pg.{uuid.uuid4().hex}"
        # sh drops the records of finished commands, records its pid, then becomes `timeout`, which makes
        # that pid its own process group's id (the host kills that group if the client never returns)
        tidy = 'for f in /run/claw/pg.*; do [ -e "$f" ] && { kill -0 "$(cat "$f")" 2>/dev/null || rm -f "$f"; }; done'
        inner = ["sh", "-c", f'{tidy}; echo $$ > {pgfile}; exec timeout -s KILL {max(t, 0.1):.3f} bash -c "$0"',
                 script]
        r = run_capped(self._exec_argv(inner, stdin=stdin is not None, env=env), timeout=t + HOST_GRACE,
                       stdin=stdin, output_limit=self.config.output_limit)
        if r.timed_out:  # the client did not return: kill the command's group inside the container
            self._run(["sh", "-c", f'kill -KILL -- "-$(cat {pgfile})" 2>/dev/null; rm -f {pgfile}'], 30)
        killed = r.exit_code == 137 and r.duration >= t - 0.05
        if r.timed_out or killed:
            return ExecResult(r.stdout, r.stderr, 124, True, r.truncated, r.duration)
        return r

    def _run(self, argv: list[str], timeout: float, stdin: bytes | None = None):
        return capture(self._exec_argv(argv, stdin=stdin is not None), timeout=timeout, output_limit=1 << 30,
                       stdin=stdin)

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        if isinstance(data, str):
            data = data.encode()
        if not path.startswith("/"):
            raise SandboxError(f"could not write {path}: use an absolute path")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.uid, info.gid = len(data), mode, 1000, 1000
            tar.addfile(info, io.BytesIO(data))
        out, err, rc, timed_out, _, _ = self._run(["tar", "-x", "-C", "/", "--no-same-owner", "-f", "-"], 120,
                                                  stdin=buf.getvalue())
        if rc != 0 or timed_out:
            why = err.decode(errors="replace").strip() or f"exit {rc}"
            raise SandboxError(f"could not write {path} in the sandbox: {why} (is it under a writable path?)")

    def read_file(self, path: str) -> bytes:
        parent, _, name = path.rstrip("/").rpartition("/")
        out, err, rc, timed_out, truncated, _ = self._run(["tar", "-c", "-C", parent or "/", "-f", "-", "--", name],
                                                          120)
        if rc != 0 or timed_out or truncated:
            why = err.decode(errors="replace").strip() or ("too large" if truncated else f"exit {rc}")
            raise SandboxError(f"could not read {path} in the sandbox: {why}")
        with tarfile.open(fileobj=io.BytesIO(out)) as tar:
            member = tar.next()
            f = tar.extractfile(member) if member is not None and member.isfile() else None
            if f is None:
                raise SandboxError(f"could not read {path} in the sandbox: not a regular file")
            return f.read()
