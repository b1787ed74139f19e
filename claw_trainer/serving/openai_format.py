"""The OpenAI chat-completions wire format as ``claw serve`` speaks it: request parsing and response shapes.

:func:`parse_request` validates a request body into a :class:`ChatRequest` (errors are 400
:class:`~claw_trainer.serving.errors.RequestError` naming the bad parameter). Messages are normalised for the
chat template: multi-part ``content`` becomes its text parts joined by newlines, image parts are kept as
data under ``images`` (for multimodal policies; a text policy ignores them), ``developer`` becomes ``system``
and a ``None`` content becomes ``""``. Unknown parameters are ignored, as OpenAI-compatible servers do.

Responses carry the OpenAI fields plus claw's: ``prompt_token_ids``, per-choice ``token_ids``,
``policy_version``, ``session_id`` and ``turn_type``. Streams are server-sent events: a role chunk, content
deltas, tool-call deltas, a final chunk with ``finish_reason`` and ``usage`` (and token ids), a separate usage
chunk with empty ``choices`` when ``stream_options.include_usage`` is set, then ``data: [DONE]``.

Live streams (:class:`ChoiceStream` turns a choice's tokens into deltas as they are sampled): text that could
still become a stop string is held back until it cannot; once tools are offered, text that could start a
``<tool_call>`` block is held back until the block closes, then the call goes out in OpenAI's delta format
(``tool_calls[k]`` with ``index``, ``id``, ``type``, ``function.name``, then ``function.arguments``) — or, if
the block is not a valid call, as text; trailing whitespace is held back until text follows it (a completion's
content is stripped around its tool calls). The final chunk comes after the turn is recorded. :func:`stream_events`
replays a finished body the same way (idempotent retries, an upstream that does not stream).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from claw_trainer.serving.errors import bad_request

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
MAX_N = 8


@dataclass
class ChatRequest:
    messages: list[dict[str, Any]]  # normalised (see module docstring)
    model: str = "claw"
    tools: list[dict[str, Any]] | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int = 1
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False
    logprobs: bool = False


def content_text(content: Any, param: str = "messages") -> tuple[str, list[Any]]:
    """(text, image parts) of an OpenAI message content: a string, None or a list of parts."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise bad_request(f"{param}.content must be a string or a list of content parts, got "
                          f"{type(content).__name__}", param)
    texts, images = [], []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("image_url", "input_image", "image"):
            images.append(part.get("image_url") or part.get("image") or part)
        elif kind == "refusal":
            texts.append(str(part.get("refusal") or ""))
        else:
            raise bad_request(f"{param}.content[{i}] has type {kind!r}: this server takes text and image_url "
                              "parts", param)
    return "\n".join(texts), images


def normalize_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages must be a non-empty list of {role, content} objects", "messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise bad_request(f"messages[{i}] must be an object with a role in {sorted(ROLES)}", f"messages[{i}]")
        text, images = content_text(m.get("content"), f"messages[{i}]")
        msg: dict[str, Any] = {"role": "system" if m["role"] == "developer" else m["role"], "content": text}
        if m["role"] == "function":
            msg["role"] = "tool"
        for key in ("name", "tool_call_id"):
            if isinstance(m.get(key), str):
                msg[key] = m[key]
        if m.get("tool_calls"):
            if not isinstance(m["tool_calls"], list):
                raise bad_request(f"messages[{i}].tool_calls must be a list", f"messages[{i}].tool_calls")
            msg["tool_calls"] = [_history_call(c, i) for c in m["tool_calls"]]
        if images:
            msg["images"] = images
        out.append(msg)
    return out


def _history_call(call: Any, i: int) -> dict[str, Any]:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise bad_request(f"messages[{i}].tool_calls[] must be {{type: function, function: {{name, arguments}}}}",
                          f"messages[{i}].tool_calls")
    args = fn.get("arguments", "{}")
    if isinstance(args, str):  # the chat template writes a dict as JSON; keep the model's own form
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            pass
    return {"id": call.get("id"), "type": "function", "function": {"name": fn["name"], "arguments": args}}


def _number(body: dict[str, Any], key: str, lo: float, hi: float, integer: bool = False) -> Any:
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or (integer and not isinstance(v, int)) \
            or not lo <= v <= hi:
        kind = "an integer" if integer else "a number"
        raise bad_request(f"{key} must be {kind} in [{lo}, {hi}], got {v!r}", key)
    return v


def parse_request(body: Any) -> ChatRequest:
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    req = ChatRequest(messages=normalize_messages(body.get("messages")), model=str(body.get("model") or "claw"))
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not all(isinstance(t, dict) and isinstance(t.get("function"), dict)
                                                  and t["function"].get("name") for t in tools):
            raise bad_request("tools must be a list of {type: function, function: {name, parameters}}", "tools")
        if body.get("tool_choice") != "none" and tools:
            req.tools = tools
    max_new = _number(body, "max_completion_tokens", 1, 1 << 20, True)
    req.max_tokens = max_new if max_new is not None else _number(body, "max_tokens", 1, 1 << 20, True)
    req.temperature = _number(body, "temperature", 0, 2)
    req.top_p = _number(body, "top_p", 0, 1)
    if req.top_p == 0:
        raise bad_request("top_p must be greater than 0", "top_p")
    req.n = _number(body, "n", 1, MAX_N, True) or 1
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and (not isinstance(stop, list) or len(stop) > 4
                             or not all(isinstance(s, str) and s for s in stop)):
        raise bad_request("stop must be a non-empty string or a list of up to 4 of them", "stop")
    req.stop = list(stop or [])
    req.stream = bool(body.get("stream"))
    opts = body.get("stream_options") or {}
    req.include_usage = bool(isinstance(opts, dict) and opts.get("include_usage"))
    req.logprobs = bool(body.get("logprobs"))
    return req


def completion_id() -> str:
    import uuid

    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def sse(obj: dict[str, Any] | str) -> bytes:
    return f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode()


def stream_events(body: dict[str, Any], include_usage: bool, tokens: list[list[str]] | None = None) -> Iterator[bytes]:
    """Server-sent events replaying a finished completion body (``tokens[i]``: choice i's decoded pieces)."""
    base = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"], "model": body["model"],
            "policy_version": body.get("policy_version"), "session_id": body.get("session_id")}

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return sse({**base, "choices": choices, **extra})

    last = len(body["choices"]) - 1
    for c in body["choices"]:
        i = c["index"]
        msg = c["message"]
        yield chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                      "finish_reason": None}])
        pieces = tokens[i] if tokens and msg.get("content") and "".join(tokens[i]) == msg["content"] \
            else ([msg["content"]] if msg.get("content") else [])
        for piece in pieces:
            if piece:
                yield chunk([{"index": i, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])
        for k, call in enumerate(msg.get("tool_calls") or []):
            yield chunk([{"index": i, "delta": {"tool_calls": [{"index": k, **call}]}, "logprobs": None,
                          "finish_reason": None}])
        final = {"index": i, "delta": {}, "finish_reason": c["finish_reason"], "token_ids": c.get("token_ids"),
                 "logprobs": c.get("logprobs")}
        extra = {"usage": body["usage"]} if i == last else {}
        yield chunk([final], **extra, prompt_token_ids=body.get("prompt_token_ids"))
    if include_usage:
        yield chunk([], usage=body["usage"])
    yield sse("[DONE]")


def now() -> int:
    return int(time.time())


OPEN, CLOSE = "<tool_call>", "</tool_call>"
_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)  # as claw_trainer.serving.toolcalls parses


def call_id(completion: str, choice: int, k: int) -> str:
    """The id of choice ``choice``'s ``k``-th tool call in completion ``completion`` (streamed before the body
    exists, so both derive it from the completion id)."""
    return "call_" + hashlib.sha256(f"{completion}/{choice}/{k}".encode()).hexdigest()[:24]


def _held(text: str, words: list[str]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of one of ``words``."""
    best = 0
    for w in words:
        for k in range(min(len(w) - 1, len(text)), best, -1):
            if text.endswith(w[:k]):
                best = k
                break
    return best


def _call_of(block: str, completion: str, choice: int, k: int) -> dict[str, Any] | None:
    m = _BLOCK.fullmatch(block)
    try:
        obj = json.loads(m.group(1)) if m else None
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    return {"id": call_id(completion, choice, k), "type": "function",
            "function": {"name": obj["name"], "arguments": args if isinstance(args, str) else json.dumps(args)}}


class ChoiceStream:
    """One choice's tokens in, its deltas out: ``push(token_id)`` returns a list of ``("text", str)`` and
    ``("call", k, call)`` events (see the module docstring for what is held back and why)."""

    def __init__(self, decode: Callable[[list[int]], str], stops: list[str], tools: bool, completion: str,
                 choice: int = 0):
        self.decode, self.stops, self.tools = decode, stops, tools
        self.completion, self.choice = completion, choice
        self.ids: list[int] = []
        self.pos = 0  # characters of the (stop-cut) text consumed: emitted, or turned into calls
        self.pending_ws = ""  # whitespace held until text follows it
        self.text = ""  # content emitted so far
        self.calls: list[dict[str, Any]] = []
        self.stopped = False

    def push(self, token: int) -> list[tuple]:
        self.ids.append(token)
        if self.stopped:
            return []
        text = self.decode(self.ids)
        if text.endswith("\ufffd"):  # a character split across tokens: wait for the rest of it
            return []
        hits = [text.find(s) for s in self.stops if s in text]
        if hits:
            text, self.stopped = text[:min(hits)], True
        else:
            text = text[:len(text) - _held(text, self.stops)]
        return self._advance(text)

    def _advance(self, text: str) -> list[tuple]:
        out: list[tuple] = []
        while self.pos < len(text):
            rest = text[self.pos:]
            if not self.tools:
                out += self._text(rest)
                self.pos = len(text)
                break
            j = rest.find(OPEN)
            if j < 0:
                safe = rest[:len(rest) - _held(rest, [OPEN])]
                out += self._text(safe)
                self.pos += len(safe)
                break
            out += self._text(rest[:j])
            self.pos += j
            e = rest.find(CLOSE, j)
            if e < 0:
                break  # inside a block: wait for it to close
            block = rest[j:e + len(CLOSE)]
            self.pos += len(block)
            call = _call_of(block, self.completion, self.choice, len(self.calls))
            if call is None:
                out += self._text(block)
            else:
                self.calls.append(call)
                out.append(("call", len(self.calls) - 1, call))
        return out

    def _text(self, piece: str) -> list[tuple]:
        if not piece:
            return []
        if not self.tools:
            self.text += piece
            return [("text", piece)]
        body = piece.rstrip()
        if not body:
            self.pending_ws += piece
            return []
        lead, self.pending_ws = self.pending_ws, piece[len(body):]
        self.text += lead + body
        return [("text", lead + body)]

    def finish(self, content: str | None, calls: list[dict[str, Any]]) -> list[tuple]:
        """The events still owed once the choice's final ``content`` and ``calls`` are known."""
        out: list[tuple] = []
        content = content or ""
        if content.startswith(self.text) and len(content) > len(self.text):
            out.append(("text", content[len(self.text):]))
            self.text = content
        for k in range(len(self.calls), len(calls)):
            out.append(("call", k, calls[k]))
        return out


def chat_delta(base: dict[str, Any], choice: int, ev: tuple) -> list[bytes]:
    """SSE chunks of one :class:`ChoiceStream` event for chat completions."""
    if ev[0] == "text":
        return [sse({**base, "choices": [{"index": choice, "delta": {"content": ev[1]}, "logprobs": None,
                                          "finish_reason": None}]})]
    _, k, call = ev
    head = {"index": k, "id": call["id"], "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""}}
    args = {"index": k, "function": {"arguments": call["function"]["arguments"]}}
    return [sse({**base, "choices": [{"index": choice, "delta": {"tool_calls": [d]}, "logprobs": None,
                                      "finish_reason": None}]}) for d in (head, args)]


def chat_final(body: dict[str, Any], base: dict[str, Any], include_usage: bool) -> Iterator[bytes]:
    """The closing chunks of a chat stream: per choice ``finish_reason`` (and token ids), usage, ``[DONE]``."""
    base = {**base, "policy_version": body.get("policy_version"), "session_id": body.get("session_id")}
    last = len(body["choices"]) - 1
    for c in body["choices"]:
        final = {"index": c["index"], "delta": {}, "finish_reason": c["finish_reason"],
                 "token_ids": c.get("token_ids"), "logprobs": c.get("logprobs")}
        extra = {"usage": body["usage"]} if c["index"] == last else {}
        yield sse({**base, "choices": [final], **extra, "prompt_token_ids": body.get("prompt_token_ids")})
    if include_usage:
        yield sse({**base, "choices": [], "usage": body["usage"]})
    yield sse("[DONE]")
