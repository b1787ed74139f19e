"""Shell actions shared by the terminal-like envs (Terminal-v0, SWE-v0): one command per step, or submit."""

from __future__ import annotations

from claw_envs.core.actions import ParsedAction
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
