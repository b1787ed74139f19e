"""The sandbox protocol every backend implements, its config and its result type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

DEFAULT_WRITABLE = {"/app": "512m", "/tmp": "256m", "/root": "64m", "/logs": "32m", "/tests": "64m"}


@dataclass(frozen=True)
class ExecResult:
    """Result of one command. Output beyond the cap is dropped and ``truncated`` is set."""

    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool = False
    truncated: bool = False
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def output(self) -> str:
        """stdout then stderr, as a terminal would show them."""
        if self.stdout and self.stderr:
            sep = "" if self.stdout.endswith("\n") else "\n"
            return self.stdout + sep + self.stderr
        return self.stdout or self.stderr


@dataclass
class SandboxConfig:
    """Limits and layout shared by all backends.

    ``writable`` maps absolute paths to size-capped private file systems (tmpfs locally, tmpfs mounts in
    Docker); everything else the sandbox sees is read-only. ``workdir`` is where commands start.
    Sizes accept k/m/g suffixes. ``max_processes`` caps the processes of one sandbox (all its commands
    together). ``seccomp`` (local backend) installs the filter of ``claw_envs.sandbox.seccomp`` on every
    process in the sandbox; turning it off is for benchmarks and kernels without seccomp only.
    ``pool`` is how many started sandboxes per configuration wait for ``reset`` to claim them (0: reset
    starts a new one itself); ``image`` is the docker backend's image.
    """

    workdir: str = "/app"
    writable: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_WRITABLE))
    timeout: float = 30.0  # default per-command timeout, seconds
    output_limit: int = 64 * 1024  # bytes kept per stream
    memory: str = "2g"  # address space per process (local) / memory limit (docker)
    cpu_seconds: int = 120  # CPU time per process
    max_processes: int = 256
    max_open_files: int = 1024
    max_file_size: str = "512m"
    network: bool = False
    seccomp: bool = True
    env: dict[str, str] = field(default_factory=dict)
    image: str = "claw-gym/terminal:latest"  # docker backend only
    pool: int = 2  # started sandboxes (containers) kept ready per configuration, claimed by reset()


def parse_size(value: str | int) -> int:
    """'512m' -> bytes. Raises ValueError with the accepted format."""
    if isinstance(value, int):
        return value
    s = str(value).strip().lower()
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(s[-1:], 1)
    digits = s[:-1] if s[-1:] in "kmg" else s
    if not digits.isdigit():
        raise ValueError(f"bad size {value!r}: use a whole number of bytes, optionally with k/m/g (e.g. '512m')")
    return int(digits) * mult


@runtime_checkable
class Sandbox(Protocol):
    """An isolated place to run model-generated commands.

    ``exec`` never raises for a command that fails, hangs or floods output: those are results. It raises
    ``SandboxError`` only when the sandbox itself is unusable (not started, closed, infrastructure failure).
    ``reset`` returns the sandbox to a pristine state (empty writable file systems, no processes).
    ``close`` is idempotent and leaves no process, mount or temporary directory behind.
    """

    config: SandboxConfig

    def start(self) -> None: ...

    def exec(self, cmd: str, timeout: float | None = None, *, cwd: str | None = None,
             env: dict[str, str] | None = None, stdin: bytes | None = None) -> ExecResult: ...

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None: ...

    def read_file(self, path: str) -> bytes: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...
