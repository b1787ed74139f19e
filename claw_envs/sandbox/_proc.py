"""Run a host process with a deadline and capped output, killing its whole process group on timeout."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from typing import TYPE_CHECKING

from claw_envs.sandbox.base import ExecResult

if TYPE_CHECKING:
    from claw_envs.sandbox.spawner import Spawner

_CHUNK = 1 << 16
_GRACE = 0.05  # seconds to keep draining after the command exits


def run_capped(argv: list[str], *, timeout: float, output_limit: int, stdin: bytes | None = None,
               env: dict[str, str] | None = None, spawner: Spawner | None = None) -> ExecResult:
    """Like ``capture`` but with output decoded as UTF-8 (invalid bytes replaced)."""
    out, err, rc, timed_out, truncated, duration = capture(argv, timeout=timeout, output_limit=output_limit,
                                                           stdin=stdin, env=env, spawner=spawner)
    return ExecResult(stdout=out.decode("utf-8", "replace"), stderr=err.decode("utf-8", "replace"),
                      exit_code=rc, timed_out=timed_out, truncated=truncated, duration=duration)


def capture(argv: list[str], *, timeout: float, output_limit: int, stdin: bytes | None = None,
            env: dict[str, str] | None = None, spawner: Spawner | None = None,
            ) -> tuple[bytes, bytes, int, bool, bool, float]:
    """Run ``argv`` in a new session; keep at most ``output_limit`` bytes of each stream.

    Output past the cap is read and discarded (so a flooding writer is never blocked into a false
    timeout). At the deadline the whole process group is killed with SIGKILL. With a ``spawner`` the
    command is started by it (under the sandbox's seccomp filter) instead of by ``subprocess.Popen``.
    """
    t0 = time.monotonic()
    if spawner is not None:
        proc = spawner.popen(argv, env=env or {}, stdin=stdin is not None)
    else:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    if stdin is not None:
        try:
            proc.stdin.write(stdin)  # type: ignore[union-attr]
        except BrokenPipeError:
            pass
        finally:
            proc.stdin.close()  # type: ignore[union-attr]
    bufs = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    truncated = timed_out = False
    deadline = t0 + timeout
    with selectors.DefaultSelector() as sel:
        for f in bufs:
            sel.register(f, selectors.EVENT_READ)  # type: ignore[arg-type]
        exited_at = None
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > _GRACE:
                break  # the command is done; a background child still holds the pipe open
            ready = sel.select(timeout=min(deadline - now, _GRACE if exited_at else 0.05))
            for key, _ in ready:
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf = bufs[key.fileobj]  # type: ignore[index]
                room = output_limit - len(buf)
                if room > 0:
                    buf += chunk[:room]
                if len(chunk) > max(room, 0):
                    truncated = True
    if timed_out:
        _kill_group(proc)
    try:
        rc = proc.wait(timeout=max(deadline - time.monotonic(), 0) + 5)
    except subprocess.TimeoutExpired:  # pipes closed but the process lingers (e.g. closed its stdio)
        timed_out = True
        _kill_group(proc)
        rc = proc.wait()
    for f in bufs:
        f.close()  # type: ignore[union-attr]
    rc = 124 if timed_out else (rc if rc >= 0 else 128 - rc)
    return (bytes(bufs[proc.stdout]), bytes(bufs[proc.stderr]), rc, timed_out, truncated,
            time.monotonic() - t0)


def _kill_group(proc) -> None:
    if hasattr(proc, "kill_group"):
        proc.kill_group()
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
