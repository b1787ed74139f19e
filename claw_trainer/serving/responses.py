"""The OpenAI Responses API (``POST /v1/responses``) over the chat-completions handler.

A Responses request is converted to a chat-completions body and answered by the same
:class:`~claw_trainer.serving.proxy.ChatHandler`: one sampler, one session matcher, one store — so a turn is
recorded in the same form whichever API the client used (chat messages, OpenAI ``tools``). The chat answer is
converted back into a Responses object, or replayed as Responses server-sent events with ``stream: true``.

Request → chat:

* ``input``: a string (one user message) or a list of items: messages (``role`` + string or parts
  ``input_text`` / ``output_text`` / ``input_image``), ``function_call`` items (an assistant message's
  ``tool_calls``, consecutive calls merged), ``function_call_output`` items (``tool`` messages); ``reasoning``
  items are skipped. ``instructions`` becomes a leading system message.
* ``tools``: Responses function tools (``{type: function, name, description, parameters}``) become chat tools;
  other tool types (web search, file search, ...) are a 400. ``tool_choice: "none"`` offers none.
* ``max_output_tokens``, ``temperature``, ``top_p``, ``stream`` map one to one; claw's ``session_id``,
  ``turn_type``, ``request_id`` pass through; ``previous_response_id`` is a 400 (this server keeps no
  conversation state: send the whole input).

Chat → response: the text becomes a ``message`` output item (``output_text``), each tool call a ``function_call``
item; ``finish_reason: length`` makes the response ``incomplete`` (``max_output_tokens``). claw's
``policy_version``, ``session_id``, ``turn_type`` and ``prompt_token_ids`` / ``token_ids`` come along.
Streams follow OpenAI's event sequence: ``response.created``, ``response.in_progress``, per item
``response.output_item.added`` … ``response.output_item.done`` (text deltas as the text is sampled, a
function-call item as soon as its ``<tool_call>`` block closes), ``response.completed`` (or
``response.incomplete``) once the turn is recorded. Items appear in the order they were sampled: the message
item opens with the first text and closes at the end; the final response lists its items in that order.
"""

# No `from __future__ import annotations`: FastAPI must resolve the locally imported Request annotation.
import json
from collections.abc import Iterator
from typing import Any

from claw_trainer.serving.errors import RequestError, bad_request

PASS_THROUGH = ("session_id", "turn_type", "request_id", "user")


def _text_of(content: Any, where: str) -> Any:
    """A Responses message content (string or parts) as chat content (string or chat parts)."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise bad_request(f"{where}.content must be a string or a list of content parts", "input")
    parts = []
    for i, p in enumerate(content):
        kind = p.get("type") if isinstance(p, dict) else None
        if kind in ("input_text", "output_text", "text") and isinstance(p.get("text"), str):
            parts.append({"type": "text", "text": p["text"]})
        elif kind == "refusal":
            parts.append({"type": "text", "text": str(p.get("refusal") or "")})
        elif kind == "input_image":
            url = p.get("image_url") or p.get("file_id")
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": p.get("detail", "auto")}})
        else:
            raise bad_request(f"{where}.content[{i}] has type {kind!r}: this server takes input_text, output_text "
                              "and input_image parts", "input")
    return parts


def input_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat messages of a Responses request (``instructions`` + ``input``)."""
    items = body.get("input")
    msgs: list[dict[str, Any]] = []
    if body.get("instructions"):
        msgs.append({"role": "system", "content": str(body["instructions"])})
    if isinstance(items, str):
        return [*msgs, {"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise bad_request("input must be a string or a non-empty list of input items", "input")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad_request(f"input[{i}] must be an object", "input")
        kind = item.get("type", "message")
        if kind == "message" or (kind is None and "role" in item):
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise bad_request(f"input[{i}].role must be user, assistant, system or developer, got {role!r}",
                                  "input")
            msgs.append({"role": role, "content": _text_of(item.get("content"), f"input[{i}]")})
        elif kind == "function_call":
            if not isinstance(item.get("name"), str) or not item.get("call_id"):
                raise bad_request(f"input[{i}] (function_call) needs call_id and name", "input")
            call = {"id": str(item["call_id"]), "type": "function",
                    "function": {"name": item["name"], "arguments": item.get("arguments") or "{}"}}
            last = msgs[-1] if msgs else None
            if last and last["role"] == "assistant":  # text, then calls: one assistant message, as in chat
                last.setdefault("tool_calls", []).append(call)
            else:
                msgs.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            if not item.get("call_id"):
                raise bad_request(f"input[{i}] (function_call_output) needs call_id", "input")
            out = item.get("output")
            text = out if isinstance(out, str) else json.dumps(out)
            msgs.append({"role": "tool", "tool_call_id": str(item["call_id"]), "content": text})
        elif kind == "reasoning":
            continue
        else:
            raise bad_request(f"input[{i}] has type {kind!r}: this server takes message, function_call and "
                              "function_call_output items", "input")
    if not msgs:
        raise bad_request("input has no messages", "input")
    return msgs


def chat_tools(tools: Any) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise bad_request("tools must be a list of function tools", "tools")
    out = []
    for i, t in enumerate(tools):
        if not isinstance(t, dict) or t.get("type") != "function":
            kind = t.get("type") if isinstance(t, dict) else None
            raise bad_request(f"tools[{i}] has type {kind!r}: this server runs function tools only", "tools")
        fn = t.get("function") if isinstance(t.get("function"), dict) else t  # accept the chat shape too
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise bad_request(f"tools[{i}] needs a name", "tools")
        out.append({"type": "function", "function": {k: fn[k] for k in ("name", "description", "parameters",
                                                                        "strict") if k in fn}})
    return out


def to_chat(body: Any) -> dict[str, Any]:
    """The chat-completions body for a Responses request body."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    if body.get("previous_response_id"):
        raise bad_request("previous_response_id is not supported: this server keeps no conversation state; send "
                          "the whole conversation as input", "previous_response_id")
    chat: dict[str, Any] = {"model": body.get("model") or "claw", "messages": input_messages(body),
                            "stream": bool(body.get("stream"))}
    tools = chat_tools(body.get("tools"))
    choice = body.get("tool_choice")
    if tools and choice != "none":
        chat["tools"] = tools
    for src, dst in (("max_output_tokens", "max_completion_tokens"), ("temperature", "temperature"),
                     ("top_p", "top_p")):
        if body.get(src) is not None:
            chat[dst] = body[src]
    for key in PASS_THROUGH:
        if body.get(key) is not None:
            chat[key] = body[key]
    return chat


def _usage(u: dict[str, int]) -> dict[str, Any]:
    return {"input_tokens": u["prompt_tokens"], "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": u["completion_tokens"], "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": u["total_tokens"]}


def from_chat(out: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The Responses object for a chat-completions answer ``out`` to the Responses request ``body``."""
    c = out["choices"][0]
    msg = c["message"]
    suffix = str(out["id"]).removeprefix("chatcmpl-")
    items: list[dict[str, Any]] = []
    if msg.get("content"):
        items.append({"type": "message", "id": f"msg_{suffix}", "status": "completed", "role": "assistant",
                      "content": [{"type": "output_text", "text": msg["content"], "annotations": [], "logprobs": []}]})
    for k, call in enumerate(msg.get("tool_calls") or []):
        items.append({"type": "function_call", "id": f"fc_{suffix}_{k}", "call_id": call["id"],
                      "name": call["function"]["name"], "arguments": call["function"]["arguments"],
                      "status": "completed"})
    incomplete = c.get("finish_reason") == "length"
    return {"id": f"resp_{suffix}", "object": "response", "created_at": out["created"],
            "status": "incomplete" if incomplete else "completed", "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "model": out["model"], "output": items, "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": None, "reasoning": {"effort": None, "summary": None},
            "store": False, "temperature": body.get("temperature"), "text": {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
            "top_p": body.get("top_p"), "truncation": "disabled", "usage": _usage(out["usage"]),
            "metadata": body.get("metadata") or {}, "user": body.get("user"),
            # claw's additions, as on chat completions
            "policy_version": out.get("policy_version"), "session_id": out.get("session_id"),
            "turn_type": out.get("turn_type"), "prompt_token_ids": out.get("prompt_token_ids"),
            "token_ids": c.get("token_ids")}


def stream_response(resp: dict[str, Any], pieces: list[str] | None) -> Iterator[bytes]:
    """Server-sent events for a finished Responses object (``pieces``: the text's decoded tokens)."""
    seq = 0

    def event(kind: str, **data: Any) -> bytes:
        nonlocal seq
        seq += 1
        return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': seq - 1, **data})}\n\n".encode()

    start = {**resp, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    yield event("response.created", response=start)
    yield event("response.in_progress", response=start)
    for i, item in enumerate(resp["output"]):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            yield event("response.output_item.added", output_index=i,
                        item={**item, "status": "in_progress", "content": []})
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            yield event("response.content_part.added", item_id=item["id"], output_index=i, content_index=0, part=part)
            for piece in (pieces if pieces and "".join(pieces) == text else [text]):
                if piece:
                    yield event("response.output_text.delta", item_id=item["id"], output_index=i, content_index=0,
                                delta=piece, logprobs=[])
            yield event("response.output_text.done", item_id=item["id"], output_index=i, content_index=0,
                        text=text, logprobs=[])
            yield event("response.content_part.done", item_id=item["id"], output_index=i, content_index=0,
                        part=item["content"][0])
        else:
            yield event("response.output_item.added", output_index=i,
                        item={**item, "status": "in_progress", "arguments": ""})
            yield event("response.function_call_arguments.delta", item_id=item["id"], output_index=i,
                        delta=item["arguments"])
            yield event("response.function_call_arguments.done", item_id=item["id"], output_index=i,
                        name=item["name"], arguments=item["arguments"])
        yield event("response.output_item.done", output_index=i, item=item)
    yield event("response.incomplete" if resp["status"] == "incomplete" else "response.completed", response=resp)


def _event(seq: int, kind: str, **data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': seq, **data})}\n\n".encode()


class ResponsesRender:
    """Responses events of a live stream (see :func:`claw_trainer.serving.proxy.stream_live`)."""

    def __init__(self, body: dict[str, Any]):
        self.body, self.seq = body, 0
        self.order: list[str] = []  # item ids in the order they were opened
        self.message: str | None = None  # the open message item's id

    def _ev(self, kind: str, **data: Any) -> bytes:
        self.seq += 1
        return _event(self.seq - 1, kind, **data)

    def begin(self, live: Any, model: str) -> Iterator[bytes]:
        self.suffix = live.cid.removeprefix("chatcmpl-")
        placeholder = {"id": live.cid, "created": live.created, "model": model, "policy_version": None,
                       "session_id": live.session, "turn_type": None, "prompt_token_ids": None,
                       "choices": [{"message": {"content": None}, "finish_reason": None, "token_ids": None}],
                       "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}
        start = {**from_chat(placeholder, self.body), "status": "in_progress", "usage": None}
        yield self._ev("response.created", response=start)
        yield self._ev("response.in_progress", response=start)

    def delta(self, choice: int, event: tuple) -> list[bytes]:
        out = []
        if event[0] == "text":
            if self.message is None:
                self.message = f"msg_{self.suffix}"
                self.order.append(self.message)
                item = {"type": "message", "id": self.message, "status": "in_progress", "role": "assistant",
                        "content": []}
                out.append(self._ev("response.output_item.added", output_index=len(self.order) - 1, item=item))
                out.append(self._ev("response.content_part.added", item_id=self.message,
                                    output_index=len(self.order) - 1, content_index=0,
                                    part={"type": "output_text", "text": "", "annotations": [], "logprobs": []}))
            out.append(self._ev("response.output_text.delta", item_id=self.message,
                                output_index=self.order.index(self.message), content_index=0, delta=event[1],
                                logprobs=[]))
            return out
        _, k, call = event
        item = {"type": "function_call", "id": f"fc_{self.suffix}_{k}", "call_id": call["id"],
                "name": call["function"]["name"], "arguments": call["function"]["arguments"], "status": "completed"}
        self.order.append(item["id"])
        i = len(self.order) - 1
        return [self._ev("response.output_item.added", output_index=i,
                         item={**item, "status": "in_progress", "arguments": ""}),
                self._ev("response.function_call_arguments.delta", item_id=item["id"], output_index=i,
                         delta=item["arguments"]),
                self._ev("response.function_call_arguments.done", item_id=item["id"], output_index=i,
                         name=item["name"], arguments=item["arguments"]),
                self._ev("response.output_item.done", output_index=i, item=item)]

    def end(self, out: dict[str, Any], req: Any) -> Iterator[bytes]:
        resp = from_chat(out, self.body)
        rank = {item_id: k for k, item_id in enumerate(self.order)}
        resp["output"].sort(key=lambda item: rank.get(item["id"], len(rank)))  # the order they were streamed in
        for i, item in enumerate(resp["output"]):
            if item["id"] == self.message:
                text = item["content"][0]["text"]
                yield self._ev("response.output_text.done", item_id=item["id"], output_index=i, content_index=0,
                               text=text, logprobs=[])
                yield self._ev("response.content_part.done", item_id=item["id"], output_index=i, content_index=0,
                               part=item["content"][0])
                yield self._ev("response.output_item.done", output_index=i, item=item)
        yield self._ev("response.incomplete" if resp["status"] == "incomplete" else "response.completed",
                       response=resp)

    def error(self, e: RequestError) -> Iterator[bytes]:
        err = e.body()["error"]
        yield self._ev("error", code=err["code"], message=err["message"], param=err["param"])

    def replay(self, req: Any, out: dict[str, Any], pieces: list[list[str]] | None, body: Any) -> Iterator[bytes]:
        return stream_response(from_chat(out, self.body), pieces[0] if pieces else None)


def add_responses_route(app: Any, handler: Any) -> None:
    """Register ``POST /v1/responses`` on the proxy's app, answered by its chat ``handler``."""
    from fastapi import Request
    from starlette.concurrency import run_in_threadpool

    @app.post("/v1/responses")
    async def responses(request: Request) -> Any:
        try:
            body = await request.json()
        except Exception as e:  # noqa: BLE001
            handler.auth.tenant(request.headers)
            raise bad_request(f"the request body is not JSON: {e}") from e
        handler.auth.tenant(request.headers)  # 401 before a 400 about the body
        chat = to_chat(body)
        if chat["stream"]:
            from claw_trainer.serving.proxy import stream_live

            return await stream_live(handler, request.headers, chat, ResponsesRender(body))
        _, out, _ = await run_in_threadpool(handler.handle, request.headers, chat)
        handler.requests["ok"] += 1
        return from_chat(out, body)
