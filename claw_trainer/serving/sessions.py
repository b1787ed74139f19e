"""Sessions of served conversations: which stored turn a request continues, and its next state.

* Every sampled choice is written to the store at once as ``awaiting_next_state`` (side turns as ``dropped``),
  so nothing sampled lives only in memory. The session's next main request attaches the user/tool messages
  that follow its last assistant message (the world's answer to the reply) as the turn's next state and moves
  the turn to ``recorded``; a request no longer than the turn's own (a regeneration) attaches nothing.
* Sessions belong to a tenant (an API key, an ``X-User``, or ``anonymous``): lookups never cross tenants.
* A session is named by ``X-Session-Id`` / ``session_id`` when the client sends one. Otherwise a request that
  opens a conversation (no assistant message yet) starts a new session, and one that continues it is matched
  by the fingerprint of its whole history up to its last assistant message (every user, assistant and tool
  message, in order: text and tool calls, whitespace, JSON formatting, tool-call ids and system messages
  ignored) — so two users who both open with "hi" get two sessions, even when the model gives both the same
  reply later on. A client that rewrote its history (dropped or compacted messages) is matched by the weaker
  fingerprint of its first user message and last assistant message; where that is shared by several
  sessions, the oldest one still awaiting a reply wins.
* With ``n > 1`` the choice the client continued (matched by fingerprint) gets the next state; its siblings
  are dropped as ``choice not continued``. ``close`` and the retention sweep (awaiting turns older than the
  retention, days by default) finish a session: its awaiting turn is recorded as done, without a next state.
  A reply that comes later still becomes the next state of the turn it answers (unless that turn was already
  trained on): the turn is reopened and judged with it.
* With ``scrub_pii`` (a bool or a :class:`~claw_trainer.serving.scrub.ScrubPolicy`: per-tenant opt-out) text is
  scrubbed before it is stored; a turn whose text held PII is stored scrubbed, without token ids, and dropped
  from training, and its stored response body (replayed to retries) is scrubbed and loses its token ids.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from typing import Any

from claw_envs.core.nextstate import NextState
from claw_trainer.rollout import Turn
from claw_trainer.serving.scrub import (
    ScrubPolicy,
    scrub_messages,
    scrub_response,
    scrub_text,
    strip_token_ids,
)
from claw_trainer.serving.store import AWAITING, Served, TurnStore


def _canon_call(call: dict[str, Any]) -> str:
    fn = call.get("function") or {}
    args = fn.get("arguments")
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            pass
    return json.dumps([fn.get("name"), args], sort_keys=True)


def _words(m: dict[str, Any]) -> str:
    return " ".join(str(m.get("content") or "").split())


def _last_assistant(messages: list[dict[str, Any]]) -> int | None:
    return max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)


def _digest(key: list[Any]) -> str:
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:32]


def fingerprint(tenant: str, messages: list[dict[str, Any]]) -> str | None:
    """Of a conversation's first user message and last assistant message (None if it has no reply yet): what
    survives a client that trims or compacts its history."""
    last = _last_assistant(messages)
    if last is None:
        return None
    first = next((m for m in messages if m.get("role") == "user"), {})
    a = messages[last]
    return _digest([tenant, _words(first), _words(a), sorted(_canon_call(c) for c in a.get("tool_calls") or [])])


def history_fingerprint(tenant: str, messages: list[dict[str, Any]]) -> str | None:
    """Of a conversation's whole history up to its last assistant message (None if it has no reply yet): the
    user, assistant and tool messages in order, by their words and tool calls; system messages (clients put
    dates in them) and tool-call ids (clients renumber them) do not count."""
    last = _last_assistant(messages)
    if last is None:
        return None
    key: list[Any] = [tenant]
    for m in messages[:last + 1]:
        if m.get("role") in ("user", "assistant", "tool"):
            key.append([m["role"], _words(m), sorted(_canon_call(c) for c in m.get("tool_calls") or [])])
    return _digest(key)


def _trailing_answers(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The user/tool messages after the last assistant message: the world's answer to it. Clients may drop
    transient messages between requests, so this is found from the end, not by the earlier request's length."""
    out: list[dict[str, Any]] = []
    for m in reversed(messages):
        if m.get("role") not in ("user", "tool"):
            break
        out.append(m)
    return out[::-1]


RETENTION_S = 7 * 86400.0  # awaiting turns are closed after a week by default (users answer late)


class SessionRecorder:
    """Writes every sampled turn to the store and attaches next states as sessions continue."""

    def __init__(self, store: TurnStore, on_record: Any = None, idle_timeout: float = RETENTION_S,
                 scrub_pii: bool | ScrubPolicy = False):
        self.store, self.on_record, self.idle_timeout = store, on_record, idle_timeout
        self.scrub_pii = ScrubPolicy.of(scrub_pii)
        self.lock = threading.Lock()
        self.recorded = 0  # turns written (any status)

    def resolve(self, tenant: str, explicit: str | None, messages: list[dict[str, Any]]) -> str:
        if explicit:
            return explicit
        fp = fingerprint(tenant, messages)
        found = self.store.session_of_fingerprint(tenant, fp, history_fingerprint(tenant, messages)) if fp else None
        return found or f"auto-{uuid.uuid4().hex[:16]}"

    def before(self, tenant: str, session: str, turn_type: str, messages: list[dict[str, Any]]) -> None:
        """A main request arrived: it carries the next state of the session's awaiting turn."""
        if turn_type != "main":
            return
        with self.lock:
            rows = self.store.awaiting(tenant, session)
            late = not rows
            if late:  # closed (retention sweep or close) before the reply came: the reply is still its next state
                rows = self.store.closed_last(tenant, session)
            if not rows:
                return
            fp = fingerprint(tenant, messages)
            matched = next((r for r in rows if fp and r.fingerprint == fp), None)
            chosen = matched or rows[0]
            turn = chosen.turn
            new = _trailing_answers(messages)
            if not new or (matched is None and len(messages) < chosen.n_messages):
                return  # a regenerated or branched request: nothing new from the world yet
            text = "\n\n".join(str(m.get("content") or "") for m in new)
            role = "tool" if any(m["role"] == "tool" for m in new) else "user"  # a tool result, maybe with notes
            turn.next_state = NextState(role=role, kind="tool" if role == "tool" else "chat", text=text,
                                        payload={"messages": new})
            turn.done = False
            status, reason = "recorded", None
            if self.scrub_pii.applies(tenant) and scrub_text(text) != text:
                turn.next_state = NextState(role=turn.next_state.role, kind=turn.next_state.kind,
                                            text=scrub_text(text))
                turn.prompt_ids, turn.completion_ids, turn.logprobs = (), (), ()
                status, reason = "dropped", "pii scrubbed"
            attached = (self.store.reopen if late else self.store.attach)(chosen.id, turn, status, reason)
            siblings = [r.id for r in rows if r.id != chosen.id and r.request_id == chosen.request_id]
            self.store.mark(siblings, "dropped", reason="choice not continued")
            turn_id = chosen.id
        if attached and status == "recorded" and self.on_record:
            self.on_record(turn_id)

    def record(self, tenant: str, session: str, turn_type: str, turns: list[Turn], request_id: str,
               n_messages: int, fingerprints: list[tuple[str | None, str | None]],
               response: dict[str, Any]) -> list[int]:
        """Write a request's sampled choices; a main turn awaits its next state, a side turn is dropped.
        ``fingerprints[k]`` is choice k's ``(fingerprint, history_fingerprint)`` as its reply will come back."""
        ids = []
        with self.lock:
            step = self.store.steps_of(tenant, session)
            for k, turn in enumerate(turns):
                turn.step = step
                status, reason = (AWAITING, None) if turn_type == "main" else ("dropped", "side turn")
                if self.scrub_pii.applies(tenant):
                    msgs, action = scrub_messages(turn.messages or []), scrub_text(turn.action)
                    if msgs != (turn.messages or []) or action != turn.action:
                        turn.messages, turn.action = msgs, action
                        turn.prompt_ids, turn.completion_ids, turn.logprobs = (), (), ()
                        status, reason = "dropped", "pii scrubbed"
                    if k == 0:
                        response, echoed = scrub_response(response)
                        if echoed or reason == "pii scrubbed":  # its token ids encode the original text
                            response = strip_token_ids(response)
                served = Served(tenant, request_id, k, n_messages, *fingerprints[k], response if k == 0 else None)
                ids.append(self.store.record(turn, session, turn_type, status, reason, served))
                self.recorded += 1
        return ids

    def close(self, tenant: str, session: str) -> bool:
        """Finish a session: its awaiting turn is recorded as the last one (done, no next state)."""
        closed = []
        with self.lock:
            for row in self.store.awaiting(tenant, session):
                row.turn.done = True
                if self.store.attach(row.id, row.turn):
                    closed.append(row.id)
        for turn_id in closed:
            if self.on_record:
                self.on_record(turn_id)
        return bool(closed)

    def sweep(self) -> int:
        """Close sessions whose awaiting turn is older than the retention (``idle_timeout`` seconds); returns how
        many. A reply after that still becomes the turn's next state (see :meth:`before`)."""
        return sum(self.close(t, s) for t, s in self.store.awaiting_older_than(self.idle_timeout))
