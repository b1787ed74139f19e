"""``claw serve``: an OpenAI-compatible chat endpoint in front of the policy that records sessions as episodes.

``POST /v1/chat/completions`` speaks the OpenAI wire format (:mod:`~claw_trainer.serving.openai_format`):
plain or streamed (server-sent events), multi-part content, ``tools`` rendered by the chat template and
``<tool_call>`` output returned as ``tool_calls``, ``stop``, ``max_completion_tokens``, ``n`` and OpenAI-shaped
errors (400 bad input or ``context_length_exceeded``, 401 bad key, 429 too many waiting requests, 503 turn
store unavailable). Every choice also carries ``token_ids``, the response ``prompt_token_ids``,
``policy_version``, ``session_id`` and ``turn_type``.

* Streaming (``stream: true``) is live: text goes out as it is sampled (see
  :class:`~claw_trainer.serving.openai_format.ChoiceStream` for stop strings and tool calls). The turn is
  recorded exactly as without streaming, after the completion ends and before the final chunk; a client that
  disconnects mid-stream stops receiving, while the completion is still sampled and recorded (a graceful
  shutdown waits for it). An error before the first token is an HTTP error; one after it (e.g. the store
  failing) is an ``error`` event that ends the stream. Live chunks carry ``session_id``; the final chunk carries ``policy_version`` and the token ids.

* Turn type: ``X-Turn-Type`` header or body ``turn_type`` (``main`` | ``side``), else the server default.
  Side turns (summaries, titles) are recorded for the log but never trained on.
* Session and tenant: see :mod:`~claw_trainer.serving.sessions` and :mod:`~claw_trainer.serving.auth`.
* Nothing sampled is lost: the sampled turns are written to the store before the response is sent (a store
  failure is a 503 and nothing is returned). A retry that sends the same ``X-Request-Id`` (or
  ``Idempotency-Key``) gets the stored response again, without sampling or recording twice.
* Serving reads the current model reference once per batch, so a weight publish never blocks or fails a
  request.
"""

# No `from __future__ import annotations`: FastAPI must resolve the locally imported Request annotations.
import asyncio
import logging
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from claw_trainer.rollout import Turn, sampling_of
from claw_trainer.serving.auth import Auth
from claw_trainer.serving.errors import RequestError, bad_request
from claw_trainer.serving.openai_format import (
    ChatRequest,
    ChoiceStream,
    call_id,
    chat_delta,
    chat_final,
    completion_id,
    now,
    parse_request,
    sse,
    stream_events,
    usage,
)
from claw_trainer.serving.sessions import SessionRecorder, fingerprint, history_fingerprint
from claw_trainer.serving.toolcalls import parse_tool_calls

log = logging.getLogger(__name__)


class Live:
    """A streamed request's channel: the generation thread reports ``("token", choice, id)`` here, the response
    reads them from an asyncio queue on the server's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.cid, self.created = completion_id(), now()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.req: ChatRequest | None = None  # set by the handler once parsed
        self.session: str | None = None  # set by the handler before sampling
        self._loop = loop

    def put(self, event: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except RuntimeError:  # the event loop is gone (shutdown): nobody is listening; sampling goes on
            pass

    def on_token(self, choice: int, token: int) -> None:
        self.put(("token", choice, token))


def _cut_at_stop(gen_text: str, ids: list[int], lps: list[float], stops: list[str], decode: Any
                 ) -> tuple[str, list[int], list[float], bool]:
    """Text before the first stop string, and the shortest token prefix that produced it and the stop."""
    hits = [(gen_text.find(s), s) for s in stops if s in gen_text]
    if not hits:
        return gen_text, ids, lps, False
    at, stop = min(hits)
    for k in range(1, len(ids) + 1):
        if len(decode(ids[:k])) >= at + len(stop):
            return gen_text[:at], ids[:k], lps[:k], True
    return gen_text[:at], ids, lps, True


class ChatHandler:
    """One chat request end to end: tenant, session, next state, sampling, recording, response body."""

    def __init__(self, policy: Any, recorder: SessionRecorder, auth: Auth, default_turn_type: str = "main",
                 env_id: str = "claw/serve", model_name: str = "claw"):
        self.policy, self.recorder, self.auth = policy, recorder, auth
        self.default_turn_type, self.env_id, self.model_name = default_turn_type, env_id, model_name
        self.requests = {"ok": 0, "error": 0, "replayed": 0, "streamed": 0}
        self._inflight: dict[tuple[str, str], threading.Event] = {}
        self.jobs: set[Any] = set()  # streamed requests still being answered
        self._lock = threading.Lock()

    def handle(self, headers: Any, body: Any, live: Live | None = None
               ) -> tuple[ChatRequest, dict[str, Any], list[list[str]] | None]:
        """Answer (and record) one request; with ``live``, its tokens are reported there as they are sampled."""
        self.auth.tenant(headers)  # 401 before anything else
        req = parse_request(body)
        if live is not None:
            live.req = req
        tenant = self.auth.tenant(headers, body)
        turn_type = headers.get("x-turn-type") or body.get("turn_type") or self.default_turn_type
        if turn_type not in ("main", "side"):
            raise bad_request(f"turn_type must be 'main' or 'side', got {turn_type!r}", "turn_type")
        rid = headers.get("x-request-id") or headers.get("idempotency-key") or body.get("request_id")
        if not rid:
            return req, *self._sample(req, headers, body, tenant, turn_type, f"req-{uuid.uuid4().hex}", live)
        key = (tenant, str(rid))
        while True:
            with self._lock:
                done = self._inflight.get(key)
                if done is None:
                    self._inflight[key] = threading.Event()
                    break
            done.wait()  # the same request is being answered: reply with its result
        try:
            stored = _store_call(self.recorder.store.response_of, tenant, str(rid))
            if stored is not None:
                self.requests["replayed"] += 1
                return req, stored, None
            return req, *self._sample(req, headers, body, tenant, turn_type, str(rid), live)
        finally:
            with self._lock:
                self._inflight.pop(key).set()

    def _sample(self, req: ChatRequest, headers: Any, body: dict[str, Any], tenant: str, turn_type: str, rid: str,
                live: Live | None = None) -> tuple[dict[str, Any], list[list[str]] | None]:
        explicit = headers.get("x-session-id") or body.get("session_id")
        session = _store_call(self.recorder.resolve, tenant, str(explicit) if explicit else None, req.messages)
        _store_call(self.recorder.before, tenant, session, turn_type, req.messages)
        cid, created = (live.cid, live.created) if live else (completion_id(), now())
        streamed = live is not None and getattr(self.policy, "streams", False)
        if streamed:
            live.session = session
            gens = self.policy.generate(req, body["messages"], on_token=live.on_token)
        else:
            gens = self.policy.generate(req, body["messages"])
        choices, turns, fps, pieces = [], [], [], []
        for i, g in enumerate(gens):
            s = g.sample
            text, ids, lps = s.text, list(s.completion_ids), list(s.logprobs)
            finish = s.finish_reason
            if req.stop and self.policy.decode([]) is not None:
                text, ids, lps, stopped = _cut_at_stop(text, ids, lps, req.stop, self.policy.decode)
                finish = "stop" if stopped else finish
            content, calls = parse_tool_calls(text) if req.tools else (text, [])
            for k, call in enumerate(calls):  # the ids a live stream already sent (derived from the completion id)
                call["id"] = call_id(cid, i, k)
            msg: dict[str, Any] = {"role": "assistant", "content": content}
            if calls:
                msg["tool_calls"], finish = calls, "tool_calls"
            choice: dict[str, Any] = {"index": i, "message": msg, "finish_reason": finish, "token_ids": ids,
                                      "logprobs": None}
            if req.logprobs:
                choice["logprobs"] = {"content": [{"token": t, "logprob": lp, "bytes": None, "top_logprobs": []}
                                                  for t, lp in zip(g.tokens, lps, strict=False)]}
            choices.append(choice)
            turns.append(Turn(s.prompt_ids, tuple(ids), tuple(lps), g.version, self.env_id, session, 0, 0, text,
                              messages=[dict(m) for m in req.messages], tools=req.tools, **sampling_of(s)))
            sent_back = [*req.messages, msg]
            fps.append((fingerprint(tenant, sent_back), history_fingerprint(tenant, sent_back)))
            p = self.policy.pieces(ids) if req.stream and not calls and not streamed else None
            pieces.append(p if p is not None and "".join(p) == (content or "") else [content or ""])
        n_prompt = len(gens[0].sample.prompt_ids)
        body_out = {"id": cid, "object": "chat.completion", "created": created,
                    "model": req.model or self.model_name, "choices": choices,
                    "usage": usage(n_prompt, sum(len(c["token_ids"]) for c in choices)),
                    "system_fingerprint": f"claw-v{gens[0].version}", "policy_version": gens[0].version,
                    "session_id": session, "turn_type": turn_type, "prompt_token_ids": list(gens[0].sample.prompt_ids)}
        _store_call(self.recorder.record, tenant, session, turn_type, turns, rid, len(req.messages) + 1, fps, body_out)
        return body_out, pieces


class ChatRender:
    """Chat-completions chunks of a live stream (see :func:`stream_live`)."""

    def begin(self, live: Live, model: str) -> Iterator[bytes]:
        self.base = {"id": live.cid, "object": "chat.completion.chunk", "created": live.created, "model": model,
                     "session_id": live.session}
        for i in range(live.req.n if live.req else 1):
            yield sse({**self.base, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                                 "logprobs": None, "finish_reason": None}]})

    def delta(self, choice: int, event: tuple) -> list[bytes]:
        return chat_delta(self.base, choice, event)

    def end(self, out: dict[str, Any], req: ChatRequest) -> Iterator[bytes]:
        return chat_final(out, self.base, req.include_usage)

    def error(self, e: RequestError) -> Iterator[bytes]:
        yield sse(e.body())

    def replay(self, req: ChatRequest, out: dict[str, Any], pieces: list[list[str]] | None, body: Any
               ) -> Iterator[bytes]:
        return stream_events(out, req.include_usage, pieces)


def _final_message(out: dict[str, Any], choice: int) -> tuple[str | None, list[dict[str, Any]]]:
    msg = out["choices"][choice]["message"]
    return msg.get("content"), msg.get("tool_calls") or []


async def stream_live(handler: "ChatHandler", headers: Any, body: Any, render: Any) -> Any:
    """Answer a ``stream: true`` request as its tokens are sampled, through ``render`` (chat or Responses).

    The request runs in a worker thread that is not tied to the connection: if the client goes away, the
    stream's generator is cancelled but the completion is still sampled and recorded."""
    from fastapi.responses import StreamingResponse
    from starlette.concurrency import run_in_threadpool

    live = Live(asyncio.get_running_loop())
    job = asyncio.ensure_future(run_in_threadpool(handler.handle, headers, body, live))
    handler.jobs.add(job)  # a strong reference while it runs (the response may be gone before it ends)
    job.add_done_callback(handler.jobs.discard)
    job.add_done_callback(lambda _: live.queue.put_nowait(None))
    first = await live.queue.get()
    if first is None:  # done before any token: a replayed or upstream answer, or an error (raised here as such)
        req, out, pieces = job.result()
        handler.requests["ok"] += 1
        handler.requests["streamed"] += 1
        return StreamingResponse(render.replay(req, out, pieces, body), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    req = live.req
    handler.requests["ok"] += 1
    handler.requests["streamed"] += 1
    decode = handler.policy.decode
    streams = [ChoiceStream(decode, req.stop, bool(req.tools), live.cid, i) for i in range(req.n)]
    model = req.model or handler.model_name

    async def events() -> AsyncIterator[bytes]:
        for b in render.begin(live, model):
            yield b
        event = first
        while event is not None:
            _, i, token = event
            for ev in streams[i].push(token):
                for b in render.delta(i, ev):
                    yield b
            event = await live.queue.get()
        try:
            _, out, _ = job.result()
        except RequestError as e:
            handler.requests["error"] += 1
            for b in render.error(e):
                yield b
            return
        except Exception as e:  # noqa: BLE001 - the stream has started: the error goes in it
            log.exception("a streamed request failed after its first token")
            handler.requests["error"] += 1
            for b in render.error(RequestError(500, f"generation failed: {type(e).__name__}: {e}")):
                yield b
            return
        for i, cs in enumerate(streams):
            for ev in cs.finish(*_final_message(out, i)):
                for b in render.delta(i, ev):
                    yield b
        for b in render.end(out, req):
            yield b

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _store_call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except sqlite3.Error as e:
        raise RequestError(503, f"the turn store is unavailable ({e}); nothing was recorded, retry later",
                           "store_unavailable") from e


def build_proxy(policy: Any, recorder: SessionRecorder, default_turn_type: str = "main", env_id: str = "claw/serve",
                auth: Auth | None = None, model_name: str = "claw", health: Any = None) -> Any:
    """The FastAPI app. ``health()`` (optional) adds loop liveness to ``GET /health``."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    handler = ChatHandler(policy, recorder, auth or Auth(), default_turn_type, env_id, model_name)
    app = FastAPI(title="claw serve")
    app.state.handler = handler

    @app.exception_handler(RequestError)
    async def request_error(_: Request, e: RequestError) -> JSONResponse:
        handler.requests["error"] += 1
        return JSONResponse(e.body(), status_code=e.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(RequestError(e.status_code, str(e.detail), None).body(), status_code=e.status_code)

    @app.exception_handler(Exception)
    async def server_error(_: Request, e: Exception) -> JSONResponse:
        handler.requests["error"] += 1
        return JSONResponse(RequestError(500, f"generation failed: {type(e).__name__}: {e}").body(), status_code=500)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        try:
            body = await request.json()
        except Exception as e:  # noqa: BLE001
            handler.auth.tenant(request.headers)
            raise bad_request(f"the request body is not JSON: {e}") from e
        if isinstance(body, dict) and body.get("stream"):
            return await stream_live(handler, request.headers, body, ChatRender())
        req, out, pieces = await run_in_threadpool(handler.handle, request.headers, body)
        handler.requests["ok"] += 1
        return out

    async def finish_streams() -> None:  # a stream whose client left is still being sampled: record it first
        if handler.jobs:
            await asyncio.wait(list(handler.jobs), timeout=300)

    app.router.add_event_handler("shutdown", finish_streams)

    from claw_trainer.serving.responses import add_responses_route

    add_responses_route(app, handler)  # POST /v1/responses: the Responses API over the same handler

    @app.post("/v1/sessions/{session}/close")
    async def close(session: str, request: Request) -> dict[str, Any]:
        tenant = handler.auth.tenant(request.headers)
        closed = await run_in_threadpool(_store_call, recorder.close, tenant, session)
        return {"session_id": session, "closed": closed}

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        handler.auth.tenant(request.headers)
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": 0,
                                            "owned_by": "claw-gym"}]}

    @app.get("/health")
    async def health_view(request: Request) -> Any:
        loops = health() if health else {}
        ok = all(v.get("alive", True) for v in (loops.get("loops") or {}).values())
        if not handler.auth.authenticated(request.headers):  # public, but only the status without a key
            return JSONResponse({"status": "ok" if ok else "degraded"}, status_code=200 if ok else 503)
        body = {"status": "ok" if ok else "degraded", "policy_version": policy.version,
                "recorded": recorder.recorded, "requests": handler.requests,
                "pending_requests": getattr(getattr(policy, "batcher", None), "pending", 0), **loops}
        return body if ok else JSONResponse(body, status_code=503)

    return app
