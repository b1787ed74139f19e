"""OSWorld setup steps (a task's ``config`` and its evaluator's ``postconfig``), run through the controller.

Supported ``type``s and their ``parameters`` (OSWorld's names):

OSWorld's placeholders (``{CLIENT_PASSWORD}``, ``{SCREEN_WIDTH_HALF}``...) are substituted in every step's
parameters first (``SetupContext.placeholders``).

* ``launch`` ``{command, shell}`` — start an app; when the controller says the app opens a window (claw
  controllers), waits until a new window appears. Helpers (``socat``...) run in the background and
  ``pkill``/``kill`` run to completion, as on OSWorld's VM.
* ``open`` ``{path}`` — open a file with its app, or a URL in Chromium.
* ``execute`` / ``command`` ``{command, shell, stdout, stderr}`` — run to completion; ``stdout``/``stderr``
  name files the output is kept under for the ``cache_file`` getter (``SetupContext.outputs``). As in OSWorld a non-zero exit is not
  fatal (it is kept in ``SetupContext.warnings``), except exit 126/127 (the command does not exist here:
  ``Unsupported``). ``execute_with_verification`` fails on any non-zero exit.
* ``sleep`` ``{seconds}``; ``activate_window`` / ``close_window`` ``{window_name, strict, by_class}``.
* ``chrome_open_tabs`` ``{urls_to_open}``; ``chrome_close_tabs`` ``{urls_to_close}``.
* ``download`` ``{files: [{url, path}]}`` — fetched on the host into the ``DownloadCache``
  (``cache/<task_id>/<file>``, reused; offline → ``DownloadNeeded`` naming the URL and the cache path);
  relative and ``file://`` URLs are files of the task's folder.
* ``upload_file`` ``{files: [{local_path, path}]}`` — files of the task's folder.
* claw's ``write_file`` ``{path, content}`` and ``wait_window`` ``{window_name, timeout}``.

Anything else (Google Drive, logins, proxies, browser-history databases...) raises ``Unsupported`` naming
the step.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

from claw_envs.core.errors import SandboxError, TaskError
from claw_envs.gui.apps import check_app_available
from claw_envs.gui.client import ControllerClient
from claw_envs.gui.downloads import DownloadCache
from claw_envs.gui.osworld import Placeholders, Unsupported
from claw_envs.gui.tasks import GUITask


@dataclass
class SetupContext:
    """What steps need besides the controller: placeholder values, the download cache, and a list that
    collects non-fatal set-up problems (non-zero exits OSWorld also ignores)."""

    placeholders: Placeholders = field(default_factory=Placeholders)
    cache: DownloadCache = field(default_factory=DownloadCache)
    warnings: list[str] = field(default_factory=list)
    max_sleep: float = 30.0  # cap on ``sleep`` steps (OSWorld's sleeps wait for a slow VM)
    outputs: dict[str, str] = field(default_factory=dict)  # ``stdout``/``stderr`` files of commands (cache_file)


_DEFAULT = SetupContext()


def run_steps(client: ControllerClient, task: GUITask, steps: tuple[dict[str, Any], ...] | list, where: str,
              ctx: SetupContext | None = None) -> None:
    ctx = ctx or _DEFAULT
    for i, step in enumerate(steps):
        kind, params = step.get("type"), step.get("parameters") or {}
        fn = _STEPS.get(kind)
        if fn is None:
            raise Unsupported(f"task {task.id}: {where}[{i}] has unsupported type {kind!r} here "
                              f"(supported: {', '.join(sorted(_STEPS))})", "step", str(kind))
        try:
            fn(client, task, ctx.placeholders.apply(params), ctx)
        except SandboxError as e:
            raise TaskError(f"task {task.id}: {where}[{i}] ({kind}) failed: {e}") from e


def _windows(client: ControllerClient) -> list[str] | None:
    return client.state()["windows"] if client.has_claw else None


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise SandboxError(f"{what} within {timeout:g} s")


def _launch(client: ControllerClient, task: GUITask, p: dict, ctx: SetupContext) -> None:
    check_app_available(_command_name(p["command"]))
    before = _windows(client)
    r = client.launch(p["command"], bool(p.get("shell", False)))
    wants_window = r.get("window", True) if isinstance(r, dict) else True
    if before is not None and wants_window:
        wait_for(lambda: len(_windows(client) or []) > len(before), float(p.get("timeout", 20)),
                 f"no new window after launching {p['command']!r}")


def _command_name(command: Any) -> str:
    if isinstance(command, list):
        return os.path.basename(str(command[0])) if command else "?"
    try:
        words = shlex.split(str(command))
    except ValueError:
        words = str(command).split()
    words = [w for w in words if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w)] or words  # skip VAR=value
    return os.path.basename(words[0]) if words else "?"


def _execute(client: ControllerClient, task: GUITask, p: dict, ctx: SetupContext, strict: bool = False) -> None:
    r = client.execute(p["command"], bool(p.get("shell", False)), float(p.get("timeout", 60)))
    for key, field_ in (("stdout", "output"), ("stderr", "error")):  # OSWorld keeps them for ``cache_file``
        if isinstance(p.get(key), str):
            ctx.outputs[os.path.basename(p[key])] = r.get(field_) or ""
    rc = r.get("returncode")
    if rc in (0, None):
        return
    msg = f"{p['command']!r} exited {rc}: {(r.get('error') or r.get('output') or '')[-400:].strip()}"
    if rc in (126, 127):
        check_app_available(_command_name(p["command"]))
        raise Unsupported(f"task {task.id}: a set-up command cannot run here: {msg}", "command",
                          _command_name(p["command"]))
    if strict:
        raise SandboxError(msg)
    ctx.warnings.append(msg)


def _execute_verified(client: ControllerClient, task: GUITask, p: dict, ctx: SetupContext) -> None:
    _execute(client, task, p, ctx, strict=True)


def _open(client: ControllerClient, task: GUITask, p: dict, ctx: SetupContext) -> None:
    client.open_file(p["path"])


def _sleep(client: ControllerClient, task: GUITask, p: dict, ctx: SetupContext) -> None:
    time.sleep(min(float(p.get("seconds", 1)), ctx.max_sleep))


def _activate(client: ControllerClient, task: GUITask, p: dict, ctx: SetupContext) -> None:
    try:
        client.activate_window(p["window_name"], bool(p.get("strict")), bool(p.get("by_class")))
    except SandboxError as e:  # OSWorld logs a missing window and goes on
        ctx.warnings.append(str(e))


def _close(client: ControllerClient, task: GUITask, p: dict, ctx: SetupContext) -> None:
    try:
        client.close_window(p["window_name"], bool(p.get("strict")), bool(p.get("by_class")))
    except SandboxError as e:
        ctx.warnings.append(str(e))


def _open_tabs(client: ControllerClient, task: GUITask, p: dict, ctx: SetupContext) -> None:
    for url in p.get("urls_to_open") or []:
        client.open_file(url)
    if client.has_claw:
        wait_for(lambda: bool(client.state().get("url")) and not client.state().get("loading"), 20,
                 "the browser did not load the tabs")


def _close_tabs(client: ControllerClient, task: GUITask, p: dict, ctx: SetupContext) -> None:
    """Close every tab whose URL starts with one of ``urls_to_close`` (OSWorld matches URL prefixes)."""
    if not client.has_claw:
        raise Unsupported(f"task {task.id}: chrome_close_tabs needs a claw controller", "step", "chrome_close_tabs")
    for url in p.get("urls_to_close") or []:
        client._call("POST", "/claw/browser/close_tabs", {"prefix": url})


def _download(client: ControllerClient, task: GUITask, p: dict, ctx: SetupContext) -> None:
    for f in p.get("files") or []:
        url, path = f.get("url"), f.get("path")
        if not isinstance(url, str) or not isinstance(path, str):
            raise TaskError(f"task {task.id}: download entries need 'url' and 'path' strings, got {f!r}")
        if "://" in url.removeprefix("file://"):
            data = ctx.cache.get(task.id, url, os.path.basename(path)).read_bytes()
        else:
            data = task.local_path(url).read_bytes()
        client.put_file(path, data)


def _upload(client: ControllerClient, task: GUITask, p: dict, ctx: SetupContext) -> None:
    for f in p.get("files") or []:
        src = f.get("local_path") or f.get("url")
        if not isinstance(src, str) or "://" in src.removeprefix("file://"):
            raise TaskError(f"task {task.id}: upload_file takes files of the task folder (got {src!r}); "
                            "use a 'download' step for URLs")
        client.put_file(f["path"], task.local_path(src).read_bytes())


def _write(client: ControllerClient, task: GUITask, p: dict, ctx: SetupContext) -> None:
    client.put_file(p["path"], str(p.get("content", "")).encode())


def _wait_window(client: ControllerClient, task: GUITask, p: dict, ctx: SetupContext) -> None:
    name = str(p["window_name"]).lower()
    wait_for(lambda: any(name in w.lower() for w in (_windows(client) or [])), float(p.get("timeout", 20)),
             f"no window named {p['window_name']!r}")


_STEPS = {"launch": _launch, "open": _open, "execute": _execute, "command": _execute,
          "execute_with_verification": _execute_verified, "sleep": _sleep, "activate_window": _activate,
          "close_window": _close, "chrome_open_tabs": _open_tabs, "chrome_close_tabs": _close_tabs,
          "upload_file": _upload, "download": _download, "write_file": _write, "wait_window": _wait_window}
