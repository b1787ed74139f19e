"""claw/GUI-v0: an agent at a real X desktop (Chromium, xterm, a text editor), OSWorld-compatible.

Each env owns one desktop, reached only through its controller's HTTP API (``claw_envs.gui.providers``):
``local`` (default; a fresh Xvfb display and a sandboxed session per env), ``docker`` or ``osworld``.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from claw_envs.core.env import ClawEnv, InfoWithOldKeys, no_unknown_kwargs, renamed
from claw_envs.core.errors import ConfigError, SandboxError, TaskError
from claw_envs.core.nextstate import NextState
from claw_envs.core.spaces import Chat
from claw_envs.core.task import builtin_tasks_dir
from claw_envs.gui.actions import SPACES, GUIAction, parse_gui_action
from claw_envs.gui.client import ControllerClient
from claw_envs.gui.downloads import DownloadCache
from claw_envs.gui.evaluator import Evaluation, evaluate
from claw_envs.gui.getters import GetterEnv
from claw_envs.gui.osworld import CLIENT_PASSWORD, Placeholders
from claw_envs.gui.providers import make_provider
from claw_envs.gui.recorder import Recorder
from claw_envs.gui.setup_steps import SetupContext, run_steps
from claw_envs.gui.tasks import GUITask, load_gui_tasks

PROTOCOL = (
    "\n\n---\nYou control a Linux desktop ({w}×{h} pixels, origin at the top-left) and see a screenshot after "
    "each action. Reply with one action per turn: Python code using `pyautogui` in a ```python block (e.g. "
    "`pyautogui.click(640, 360)`, `pyautogui.typewrite('hello')`, `pyautogui.hotkey('ctrl', 's')`), or a "
    "computer_13 JSON action, or a `computer` tool call. Reply `WAIT` to let the screen update, `DONE` when "
    "the task is complete, or `FAIL` if it cannot be done. Your home folder is /home/user.")
TERMINATING = ("submitted", "gave_up", "parse_errors", "desktop_died")


class GUIEnv(ClawEnv):
    """A GUI task per episode on a live desktop.

    Args:
        tasks: a folder/file of OSWorld JSON tasks, a list of ``GUITask``, or None for ``tasks/gui``.
        task_ids: restrict to these ids.
        backend: where the desktop runs: ``local`` (default), ``docker`` or ``osworld`` (then ``url`` is the VM
            server's URL, and ``token`` the secret of a claw controller there, if it is one). Deprecated name:
            ``provider``.
        action_space: ``auto``, ``pyautogui``, ``computer_13`` or ``computer_use`` (see ``actions``).
        max_steps: actions per episode (default 30; a task's ``max_steps`` wins when this is None).
        observation: ``chat`` (the conversation; each world message carries the screenshot as PNG bytes in
            ``image``) or ``dict`` (``{"messages": chat, "screenshot": uint8 H×W×3}``).
        accessibility_tree: also put the accessibility tree (XML, up to ``a11y_max_chars``) in the text.
        action_timeout: seconds an action's code may run (60). Deprecated name: ``step_timeout``.
        settle: seconds to let the screen settle after an action (then loading pages are waited for).
        record_dir / record_format: save each episode's screenshots (``gif``, ``strip`` or ``both``).
        client_password: OSWorld's ``{CLIENT_PASSWORD}`` (also what the desktop's ``sudo`` accepts).
        download_cache / offline: where OSWorld ``download`` files are cached (``<dir>/<task_id>/<file>``;
            default ``$CLAW_GUI_CACHE`` or ``~/.cache/claw-gym/osworld``) and whether to never fetch them.
        max_setup_sleep: cap on a task's ``sleep`` set-up steps in seconds (claw's launches wait for apps).

    ``reward`` is the task's OSWorld score at episode end (0 before). Episodes end on DONE/FAIL
    (``terminated``), too many unparsable actions, or ``max_steps`` (``truncated``; the task is scored).
    ``info["outcome"]`` has the score, ``success`` and each metric's result (``info["evaluation"]`` is its
    deprecated name); ``info["next_state"]`` the screenshot and what changed.
    """

    kind = "gui"
    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 1}

    def __init__(self, tasks: str | Path | list[GUITask] | None = None, task_ids: list[str] | None = None,
                 backend: str | None = None, url: str | None = None, image: str = "claw-gym/gui:latest",
                 action_space: str = "auto", max_steps: int | None = None, observation: str = "chat",
                 accessibility_tree: bool = False, a11y_max_chars: int = 20000, action_timeout: float | None = None,
                 settle: float = 0.3, wait_seconds: float = 1.0, max_parse_errors: int = 3,
                 record_dir: str | None = None, record_format: str = "gif", width: int = 1280, height: int = 720,
                 log_dir: str | None = None, render_mode: str | None = None, client_password: str = CLIENT_PASSWORD,
                 download_cache: str | None = None, offline: bool = False, token: str | None = None,
                 max_setup_sleep: float = 30.0, **deprecated: Any):
        backend = renamed("GUIEnv", deprecated, "provider", "backend", backend) or "local"
        action_timeout = renamed("GUIEnv", deprecated, "step_timeout", "action_timeout", action_timeout)
        action_timeout = 60.0 if action_timeout is None else float(action_timeout)
        no_unknown_kwargs("GUIEnv", deprecated)
        provider = backend
        super().__init__(render_mode=render_mode)
        if action_space not in SPACES:
            raise ConfigError(f"action_space must be one of {SPACES}, got {action_space!r}")
        if observation not in ("chat", "dict"):
            raise ConfigError(f"observation must be 'chat' or 'dict', got {observation!r}")
        self.tasks = list(tasks) if isinstance(tasks, list) else load_gui_tasks(tasks or builtin_tasks_dir("gui"))
        self.tasks, self._by_id = self._select_tasks(self.tasks, task_ids)
        self.provider = make_provider(provider, url=url, image=image, width=width, height=height, log_dir=log_dir,
                                      client_password=client_password, token=token)
        self.client_password = client_password
        self.downloads = DownloadCache(download_cache, offline=offline)
        self.max_setup_sleep = max_setup_sleep
        self._setup = SetupContext(Placeholders(width, height, client_password), self.downloads)
        self.provider_name = self.backend = provider
        self.width, self.height = width, height
        self.action_space_name = action_space
        self.max_steps_override = max_steps
        self.observation_mode = observation
        self.a11y, self.a11y_max_chars = accessibility_tree, a11y_max_chars
        self.action_timeout, self.settle, self.wait_seconds = action_timeout, settle, wait_seconds
        self.max_parse_errors = max_parse_errors
        self.recorder = Recorder(record_dir, record_format) if record_dir else None
        self.recorded: list[Path] = []
        if observation == "dict":
            self.observation_space = spaces.Dict({
                "messages": Chat(), "screenshot": spaces.Box(0, 255, (height, width, 3), np.uint8)})
        self.client: ControllerClient | None = None
        self._fresh = False
        self._cache = tempfile.TemporaryDirectory(prefix="claw-gui-")
        self.task: GUITask | None = None
        self._done = True
        self._episode = 0
        self._png: bytes | None = None
        self._state: dict[str, Any] = {}
        self.last_action: str | None = None
        self.history: list[GUIAction] = []

    # -- desktop -----------------------------------------------------------------------------------
    def _ensure_desktop(self) -> ControllerClient:
        if self.client is None:
            url = self.provider.start()
            self.client = ControllerClient(url, timeout=self.action_timeout + 60,
                                           token=getattr(self.provider, "token", None))
            self._fresh = True
        return self.client

    def _observe_state(self) -> dict[str, Any]:
        c = self.client
        if c is None or not c.has_claw:
            return {}
        deadline = time.monotonic() + 5
        st = c.state()
        while st.get("loading") and time.monotonic() < deadline:
            time.sleep(0.05)
            st = c.state()
        return st

    def _obs(self) -> Any:
        msgs = self._observe()
        if self.observation_mode == "chat":
            return msgs
        return {"messages": msgs, "screenshot": self.screenshot_array()}

    def screenshot_array(self) -> np.ndarray:
        """The latest screenshot as a uint8 H×W×3 array."""
        if self._png is None:
            return np.zeros((self.height, self.width, 3), np.uint8)
        from PIL import Image
        return np.asarray(Image.open(io.BytesIO(self._png)).convert("RGB"), dtype=np.uint8)

    def _a11y_text(self) -> str:
        if not self.a11y or self.client is None:
            return ""
        tree = self.client.accessibility_tree()
        if len(tree) > self.a11y_max_chars:
            tree = tree[: self.a11y_max_chars] + "…[truncated]"
        return f"\n\nAccessibility tree:\n{tree}"

    # -- episode -----------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.task = task = self._choose_task(options, self.tasks, self._by_id)
        c = self._ensure_desktop()
        if not self._fresh and self.provider.can_reset and c.has_claw:
            c.reset()
        self._fresh = False
        self._setup = SetupContext(Placeholders(self.width, self.height, self.client_password), self.downloads,
                                   max_sleep=self.max_setup_sleep)
        run_steps(c, task, task.config, "config", self._setup)  # waits for windows and page loads itself
        time.sleep(min(self.settle, 0.1))
        self._state = self._observe_state()
        self._png = c.screenshot()
        self.steps, self.parse_errors, self._done = 0, 0, False
        self.last_action, self.history = None, []
        self.max_steps = self.max_steps_override or task.max_steps or 30
        self._episode += 1
        text = task.instruction + PROTOCOL.format(w=self.width, h=self.height) + self._a11y_text()
        self.messages = [{"role": "user", "content": text, "image": self._png}]
        if self.recorder is not None:
            self.recorder.clear()
            self.recorder.add(self._png, "start")
        return self._obs(), {"task_id": task.id, "max_steps": self.max_steps, "backend": self.backend,
                             "provider": self.backend,
                             "controller": c.url, "state": dict(self._state),
                             "setup_warnings": list(self._setup.warnings)}

    def step(self, action: Any):
        if self._done:
            raise RuntimeError("step() called after the episode ended: call reset() first")
        c = self.client
        assert c is not None and self.task is not None
        content = (action.get("content") or "") if isinstance(action, dict) else (
            action if isinstance(action, str) else repr(action))
        msg: dict[str, Any] = {"role": "assistant", "content": content}
        if isinstance(action, dict) and action.get("tool_calls"):
            msg["tool_calls"] = action["tool_calls"]
        self.messages.append(msg)
        parsed = parse_gui_action(action, self.action_space_name)
        self.history.append(parsed)
        before = dict(self._state)
        done_reason, result, lines = None, None, []
        if parsed.error:
            self.parse_errors += 1
            lines.append(f"Could not run your action: {parsed.error}")
            if self.parse_errors >= self.max_parse_errors:
                done_reason = "parse_errors"
        else:
            self.parse_errors = 0
            self.steps += 1
            try:
                if parsed.code:
                    result = c.run_python(parsed.code, timeout=self.action_timeout)
                    lines.append(_describe(result))
                if parsed.special == "WAIT":
                    time.sleep(self.wait_seconds)
                    lines.append("Waited.")
                elif parsed.special in ("DONE", "FAIL"):
                    self.last_action = parsed.special
                    done_reason = "submitted" if parsed.special == "DONE" else "gave_up"
                    lines.append("Task marked done. Scoring." if parsed.special == "DONE" else
                                 "Task marked infeasible. Scoring.")
            except SandboxError as e:
                lines.append(f"The desktop stopped responding: {e}")
                done_reason = "desktop_died"
        if done_reason is None and self.steps >= self.max_steps:
            done_reason = "max_steps"
        if done_reason != "desktop_died":
            if parsed.code:
                time.sleep(self.settle)
            self._state = self._observe_state()
            self._png = c.screenshot()
        changed = {k: self._state.get(k) for k in ("active_window", "url", "windows")
                   if self._state.get(k) != before.get(k)}
        if self._state:
            lines.append(f"Active window: {self._state.get('active_window')!r}"
                         + (f"; URL: {self._state['url']}" if self._state.get("url") else ""))
            if changed:
                lines.append("Changed: " + ", ".join(sorted(changed)))
        reward, extra = 0.0, {}
        if done_reason is not None:
            ev = self._evaluate(done_reason)
            reward = ev.score
            extra["outcome"] = {"score": ev.score, "success": ev.score >= 1.0, "details": list(ev.details)}
            extra["evaluation"] = extra["outcome"]  # deprecated key (warns when read), same dict
            self._done = True
        text = "\n".join(lines) + self._a11y_text()
        exit_code = None if result is None else result.get("returncode")
        ns = NextState(role="environment", kind="gui", text=text, image=self._png, exit_code=exit_code,
                       done_reason=done_reason,
                       payload={"action_space": parsed.space, "code": parsed.code, "special": parsed.special,
                                "parse_error": parsed.error,
                                "stdout": None if result is None else result.get("output"),
                                "stderr": None if result is None else result.get("error"),
                                "timed_out": None if result is None else result.get("timed_out"),
                                "active_window": self._state.get("active_window"), "url": self._state.get("url"),
                                "windows": self._state.get("windows"), "changed": changed})
        call_id = None
        if isinstance(action, dict) and action.get("tool_calls"):
            call_id = (action["tool_calls"][0] or {}).get("id")
        reply: dict[str, Any] = {"role": "tool" if call_id else "user", "content": text, "image": self._png}
        if call_id:
            reply["tool_call_id"] = call_id
        self.messages.append(reply)
        if self.recorder is not None:
            self.recorder.add(self._png, (parsed.special or (parsed.code or parsed.error or ""))[:80].replace("\n", "; "))
            if self._done:
                self.recorded += self.recorder.save(f"{self.task.id}-ep{self._episode}")
        terminated = done_reason in TERMINATING
        truncated = done_reason == "max_steps"
        info = InfoWithOldKeys(self._info(ns, task_id=self.task.id, step=self.steps, **extra))
        return self._obs(), float(reward), terminated, truncated, info

    def _evaluate(self, done_reason: str) -> Evaluation:
        if done_reason == "desktop_died":
            return Evaluation(0.0, ({"error": "the desktop died"},))
        genv = GetterEnv(self.client, self.task, f"{self._cache.name}/ep{self._episode}", list(self.history),
                         self._setup)
        return evaluate(genv, self.last_action)

    def run_oracle(self) -> tuple[float, dict[str, Any]]:
        """Play the task's oracle actions (after ``reset``); returns ``(reward, last info)``."""
        if self.task is None or not self.task.oracle:
            raise TaskError(f"task {getattr(self.task, 'id', None)} has no oracle")
        reward, info = 0.0, {}
        for a in self.task.oracle:
            if self._done:
                break
            _, reward, _, _, info = self.step(a if isinstance(a, str) else _json(a))
        if not self._done:
            _, reward, _, _, info = self.step("DONE")
        return reward, info

    def render(self):
        if self.render_mode == "rgb_array":
            return self.screenshot_array()
        return super().render()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        self.provider.stop()
        self._cache.cleanup()
        super().close()

    def __del__(self) -> None:
        try:
            self.provider.stop()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _json(a: Any) -> str:
    import json
    return json.dumps(a)


def _describe(r: dict[str, Any]) -> str:
    parts = []
    out = (r.get("output") or "").rstrip()
    err = (r.get("error") or "").rstrip()
    if out:
        parts.append(out[-2000:])
    if err:
        parts.append(err[-2000:])
    if r.get("timed_out"):
        parts.append("[timed out; the code was killed]")
    parts.append(f"[exit code: {r.get('returncode')}]")
    return "\n".join(parts)
