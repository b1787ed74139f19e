"""Parse a model's raw output into structured actions, without ever raising.

Formats understood:

* Qwen/Hermes tool calls: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (several allowed);
* OpenAI assistant messages: ``{"role": "assistant", "tool_calls": [{"id", "function": {"name",
  "arguments"}}]}`` where ``arguments`` is a JSON string or a dict (a bare list of such calls works too);
* fenced code blocks: ```` ```bash ````, ```` ```sh ````, ```` ```shell ```` or an untagged fence.

Problems (bad JSON, a call with no name, arguments that are not an object, an unclosed tag) come back as
``ParsedAction.errors``: messages written for the model, saying what was wrong and what to send instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_TOOL_CALL_RE = re.compile(r"<tool_call>(.*?)(</tool_call>|$)", re.DOTALL)
_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)
SHELL_LANGS = frozenset({"", "bash", "sh", "shell", "console", "zsh"})


@dataclass(frozen=True)
class ToolCall:
    """One parsed tool call."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True)
class ParsedAction:
    """Everything found in one action. ``errors`` is empty when the text parsed cleanly."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    code_blocks: tuple[tuple[str, str], ...] = ()  # (language, code)
    errors: tuple[str, ...] = field(default=())

    @property
    def shell_blocks(self) -> tuple[str, ...]:
        return tuple(code for lang, code in self.code_blocks if lang.lower() in SHELL_LANGS)


def _coerce_call(obj: Any, where: str) -> tuple[ToolCall | None, str | None]:
    if not isinstance(obj, dict):
        return None, f"{where}: expected a JSON object like {{\"name\": ..., \"arguments\": {{...}}}}"
    call_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    if isinstance(obj.get("function"), dict):  # OpenAI shape
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        return None, f"{where}: the tool call has no \"name\" string"
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as e:
            return None, f"{where}: arguments of {name!r} are not valid JSON ({e.msg} at char {e.pos})"
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return None, f"{where}: arguments of {name!r} must be a JSON object, got {type(args).__name__}"
    return ToolCall(name=name.strip(), arguments=args, id=call_id), None


def parse_action(action: Any) -> ParsedAction:
    """Parse ``action`` (model text, an OpenAI assistant message dict, or a list of tool-call dicts)."""
    calls: list[ToolCall] = []
    errors: list[str] = []
    if isinstance(action, list):
        action = {"content": "", "tool_calls": action}
    if isinstance(action, dict):
        for i, raw in enumerate(action.get("tool_calls") or []):
            call, err = _coerce_call(raw, f"tool_calls[{i}]")
            calls.append(call) if call else errors.append(err)  # type: ignore[func-returns-value]
        text = action.get("content") or ""
        if not isinstance(text, str):
            text = ""
    elif isinstance(action, str):
        text = action
    else:
        return ParsedAction(text="", errors=(
            f"action must be text or an assistant message dict, got {type(action).__name__}",))

    for i, m in enumerate(_TOOL_CALL_RE.finditer(text)):
        body, closing = m.group(1).strip(), m.group(2)
        where = f"<tool_call> #{i + 1}"
        if not closing:
            errors.append(f"{where} is not closed: end it with </tool_call>")
            continue
        try:
            obj = json.loads(body)
        except json.JSONDecodeError as e:
            errors.append(f"{where} is not valid JSON ({e.msg} at char {e.pos}); send "
                          '{"name": "<tool>", "arguments": {...}}')
            continue
        call, err = _coerce_call(obj, where)
        calls.append(call) if call else errors.append(err)  # type: ignore[func-returns-value]

    outside = _TOOL_CALL_RE.sub("", text)
    blocks = tuple((m.group(1), m.group(2).rstrip("\n")) for m in _FENCE_RE.finditer(outside))
    return ParsedAction(text=text, tool_calls=tuple(calls), code_blocks=blocks, errors=tuple(errors))
