"""Shell actions shared by the terminal-like envs (Terminal-v0, SWE-v0): one command per step, or submit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claw_envs.core.actions import ParsedAction, parse_action
from claw_envs.core.errors import SandboxError
from claw_envs.sandbox.base import ExecResult

SHELL_TOOLS = ("bash", "shell", "terminal", "run", "execute", "execute_bash", "run_command")
SUBMIT_TOOLS = ("submit", "done", "finish", "complete")
_SUBMIT_WORDS = {"submit", "done", "echo complete_task_and_submit_final_output"}


def interpret_shell_action(parsed: ParsedAction) -> tuple[str, str, str | None]:
    """(kind, value, tool_call_id): kind is command | submit | error."""
    if parsed.errors:
        return "error", "; ".join(parsed.errors), None
    if parsed.tool_calls:
        if len(parsed.tool_calls) > 1:
            return "error", f"{len(parsed.tool_calls)} tool calls in one reply; send exactly one", None
        call = parsed.tool_calls[0]
        if call.name in SUBMIT_TOOLS:
            return "submit", "", call.id
        if call.name not in SHELL_TOOLS:
            return "error", f"unknown tool {call.name!r}; use `bash` with {{\"command\": ...}} or `submit`", None
        cmd = next((call.arguments[k] for k in ("command", "cmd", "code", "script") if k in call.arguments), None)
        if not isinstance(cmd, str) or not cmd.strip():
            return "error", "the bash tool needs a non-empty string argument \"command\"", call.id
        return ("submit", "", call.id) if cmd.strip().lower() in _SUBMIT_WORDS else ("command", cmd, call.id)
    blocks = parsed.shell_blocks
    if len(blocks) > 1:
        return "error", f"{len(blocks)} ```bash blocks in one reply; send exactly one command per reply", None
    if blocks:
        cmd = blocks[0].strip()
        if not cmd:
            return "error", "the ```bash block is empty", None
        return ("submit", "", None) if cmd.lower() in _SUBMIT_WORDS else ("command", blocks[0], None)
    if parsed.text.strip().strip("`").strip().lower() in _SUBMIT_WORDS:
        return "submit", "", None
    return "error", "no command found; put one command in a ```bash block, or reply `submit` when done", None


def format_result(r: ExecResult, timeout: float) -> str:
    """How a command's result is shown to the agent (the next-state text)."""
    out = r.output.rstrip("\n")
    parts = [out if out else "(no output)"]
    if r.truncated:
        parts.append("[output truncated]")
    if r.timed_out:
        parts.append(f"[timed out after {timeout:g} s; the command was killed]")
    parts.append(f"[exit code: {r.exit_code}]")
    return "\n".join(parts)


@dataclass
class ShellTurn:
    """What one step of a shell env did: the parsed action, the shown text, the result, why it ended."""

    kind: str  # command | submit | error
    command: str
    call_id: str | None
    text: str
    result: ExecResult | None
    done_reason: str | None

    def payload(self) -> dict[str, Any]:
        p: dict[str, Any] = {"action_kind": self.kind}
        if self.result is not None:
            r = self.result
            p.update(command=self.command, stdout=r.stdout, stderr=r.stderr, timed_out=r.timed_out,
                     truncated=r.truncated, duration=r.duration)
        elif self.kind == "error":
            p["parse_error"] = self.command
        return p

    def reply(self) -> dict[str, Any]:
        """The world's answer as a chat message (a tool message when the action was a tool call)."""
        if self.call_id:
            return {"role": "tool", "content": self.text, "tool_call_id": self.call_id}
        return {"role": "user", "content": self.text}


def run_shell_turn(env: Any, action: Any, timeout: float, submit_text: str) -> ShellTurn:
    """The step logic shared by shell envs.

    Records the assistant message in ``env.messages``, runs one command in ``env.session``, and keeps
    ``env.steps`` / ``env.parse_errors`` (consecutive; ``env.max_parse_errors`` of them end the episode) and
    ``env.max_steps``. A command that kills the sandbox ends the episode (``sandbox_died``), it never raises.
    """
    parsed = parse_action(action)
    content = (action.get("content") or "") if isinstance(action, dict) else (
        action if isinstance(action, str) else repr(action))
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if isinstance(action, dict) and action.get("tool_calls"):
        msg["tool_calls"] = action["tool_calls"]
    env.messages.append(msg)
    kind, value, call_id = interpret_shell_action(parsed)
    done_reason, result = None, None
    if kind == "error":
        env.parse_errors += 1
        text = f"Could not run your action: {value}"
        if env.parse_errors >= env.max_parse_errors:
            done_reason = "parse_errors"
    elif kind == "submit":
        text, done_reason = submit_text, "submitted"
    else:
        env.parse_errors = 0
        env.steps += 1
        try:
            result = env.session.run(value, timeout=timeout)
            text = format_result(result, timeout)
        except SandboxError as e:  # the command killed the sandbox itself (e.g. `kill -9 -1`)
            text, done_reason = f"The sandbox stopped while running your command: {e}", "sandbox_died"
    if done_reason is None and env.steps >= env.max_steps:
        done_reason = "max_steps"
    return ShellTurn(kind, value, call_id, text, result, done_reason)


TERMINATING = ("submitted", "parse_errors", "sandbox_died")
