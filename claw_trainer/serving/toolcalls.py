"""Tool calls between the model's text and OpenAI's ``tool_calls``.

Models trained on Qwen/Hermes-style templates (TRL's ``qwen3`` template, used by ``claw_trainer.tiny``) write a
call as ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``. :func:`parse_tool_calls` turns such
text into OpenAI ``tool_calls`` (``arguments`` as a JSON string) plus the remaining text; a block that is not
valid JSON with a ``name`` stays text. History going the other way needs no rewriting: the chat template
renders OpenAI-shaped ``tool_calls`` and ``tool`` messages the way the model was trained on.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)


def parse_tool_calls(text: str) -> tuple[str | None, list[dict[str, Any]]]:
    """(content without the calls, or None if nothing is left; OpenAI tool_calls) from a completion's text."""
    calls: list[dict[str, Any]] = []
    kept: list[str] = []
    pos = 0
    for m in _BLOCK.finditer(text):
        try:
            obj = json.loads(m.group(1))
        except json.JSONDecodeError:
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            continue
        args = obj.get("arguments", obj.get("parameters", {}))
        calls.append({"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                      "function": {"name": obj["name"],
                                   "arguments": args if isinstance(args, str) else json.dumps(args)}})
        kept.append(text[pos:m.start()])
        pos = m.end()
    if not calls:
        return text, []
    kept.append(text[pos:])
    rest = "".join(kept).strip()
    return (rest or None), calls
