"""Docker sandbox: the same protocol and limits as the local backend, in a container.

The container runs ``sleep infinity`` from ``config.image`` (build ``env_images/terminal/Dockerfile``) with
no network (``network_mode="none"``), a read-only root, size-capped tmpfs mounts for ``config.writable``,
memory/pids/CPU limits, all capabilities dropped, ``no-new-privileges``, and uid 1000. Each ``exec`` runs
``timeout -s KILL`` around ``bash -c`` (GNU timeout signals the command's whole process group) and streams
output, keeping at most ``config.output_limit`` bytes per stream.
"""

from __future__ import annotations

import io
import shlex
import tarfile
import time

from claw_envs.core.errors import SandboxError
from claw_envs.sandbox.base import ExecResult, SandboxConfig, parse_size


class DockerSandbox:
    backend = "docker"

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self._container = None
        self._client = None

    def _docker(self):
        if self._client is None:
            try:
                import docker
            except ImportError as e:
                raise SandboxError("the docker backend needs the docker SDK: pip install 'claw-gym[docker]'") from e
            try:
                self._client = docker.from_env()
                self._client.ping()
            except Exception as e:  # noqa: BLE001
                raise SandboxError(f"no Docker engine answers ({e}); start one or use backend='local'") from e
        return self._client

    def start(self) -> None:
        if self._container is not None:
            return
        import docker.types

        c = self.config
        tmpfs = {p: f"size={parse_size(s)},mode=1777" for p, s in c.writable.items()}
        tmpfs["/run/claw"] = "size=4m,mode=1777"
        try:
            self._container = self._docker().containers.run(
                c.image, ["sleep", "infinity"], detach=True, init=True, user="1000:1000",
                working_dir=c.workdir, network_mode="bridge" if c.network else "none", read_only=True,
                tmpfs=tmpfs, mem_limit=parse_size(c.memory), pids_limit=c.max_processes, nano_cpus=1_000_000_000,
                cap_drop=["ALL"], security_opt=["no-new-privileges"], environment=dict(c.env),
                ulimits=[docker.types.Ulimit(name="nofile", soft=c.max_open_files, hard=c.max_open_files),
                         docker.types.Ulimit(name="cpu", soft=c.cpu_seconds, hard=c.cpu_seconds),
                         docker.types.Ulimit(name="fsize", soft=parse_size(c.max_file_size),
                                             hard=parse_size(c.max_file_size))])
        except Exception as e:  # noqa: BLE001
            raise SandboxError(f"could not start a container from {c.image!r}: {e}. Build it with "
                               f"`docker build -t {c.image} env_images/terminal`.") from e

    def exec(self, cmd: str, timeout: float | None = None, *, cwd: str | None = None,
             env: dict[str, str] | None = None, stdin: bytes | None = None) -> ExecResult:
        if self._container is None:
            raise SandboxError("the sandbox is not running: call start() (or reset()) first")
        t = timeout or self.config.timeout
        d = shlex.quote(cwd or self.config.workdir)
        script = f"cd -- {d} 2>/dev/null || {{ echo \"no such directory: \"{d} >&2; exit 1; }}\n{cmd}"
        argv = ["timeout", "-s", "KILL", str(max(int(t + 0.999), 1)), "bash", "-c", script]
        if stdin is not None:  # docker exec cannot feed stdin through the SDK; stage it in a file
            self.write_file("/run/claw/stdin", stdin)
            argv = ["sh", "-c", 'exec "$@" < /run/claw/stdin', "sh", *argv]
        api = self._docker().api
        t0 = time.monotonic()
        ex = api.exec_create(self._container.id, argv, environment=env or {}, workdir="/")
        bufs, truncated = [bytearray(), bytearray()], False
        for out, err in api.exec_start(ex["Id"], stream=True, demux=True):
            for i, chunk in enumerate((out, err)):
                if chunk:
                    room = self.config.output_limit - len(bufs[i])
                    bufs[i] += chunk[:max(room, 0)]
                    truncated |= len(chunk) > max(room, 0)
        rc = api.exec_inspect(ex["Id"])["ExitCode"]
        timed_out = rc in (137, 124) and time.monotonic() - t0 >= t - 0.5
        return ExecResult(bufs[0].decode("utf-8", "replace"), bufs[1].decode("utf-8", "replace"),
                          124 if timed_out else rc, timed_out, truncated, time.monotonic() - t0)

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        if isinstance(data, str):
            data = data.encode()
        parent, _, name = path.rpartition("/")
        self.exec(f"mkdir -p -- {shlex.quote(parent or '/')}", cwd="/")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), mode, 1000, 1000
            tar.addfile(info, io.BytesIO(data))
        try:
            ok = self._container.put_archive(parent or "/", buf.getvalue())
        except Exception as e:  # noqa: BLE001
            ok, err = False, e
        if not ok:
            raise SandboxError(f"could not write {path} in the sandbox ({locals().get('err', 'rejected')}); "
                               "is it under a writable path?")

    def read_file(self, path: str) -> bytes:
        try:
            stream, _ = self._container.get_archive(path)
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.next()
                f = tar.extractfile(member) if member else None
                if f is None:
                    raise SandboxError(f"could not read {path} in the sandbox: not a regular file")
                return f.read()
        except SandboxError:
            raise
        except Exception as e:  # noqa: BLE001
            raise SandboxError(f"could not read {path} in the sandbox: {e}") from e

    def reset(self) -> None:
        self.close()
        self.start()

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.remove(force=True)
            except Exception:  # noqa: BLE001
                pass
            self._container = None
