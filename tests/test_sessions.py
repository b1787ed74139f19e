"""Session attribution by fingerprint (claw_trainer.serving.sessions), deterministic and without a model.

The request/response flow of the proxy is replayed against a real in-memory TurnStore: each reply is recorded as
the proxy records it (with the fingerprints of the conversation as the client will send it back), and each next
request is resolved as the proxy resolves it. The case that once swapped live conversations (found by
tests/test_attribution.py on random tiny models): one conversation ends on a reply ("") that another conversation
also got mid-way; the second one's next request must stay in its own session.
"""

from claw_trainer.rollout import Turn
from claw_trainer.serving.sessions import SessionRecorder, fingerprint, history_fingerprint
from claw_trainer.store import AWAITING, TurnStore


class Client:
    """One conversation held by a client without session headers."""

    def __init__(self, recorder: SessionRecorder, opening: str = "hi"):
        self.recorder, self.messages, self.sessions = recorder, [{"role": "user", "content": opening}], []

    def ask(self, reply: str, then: str | None = "ok", system: str = "You are helpful.") -> str:
        sent = [{"role": "system", "content": system}, *self.messages]
        session = self.recorder.resolve("anonymous", None, sent)
        self.recorder.before("anonymous", session, "main", sent)
        msg = {"role": "assistant", "content": reply}
        back = [*sent, msg]
        turn = Turn((1, 2), (3,), (-0.5,), 0, "claw/serve", session, 0, 0, reply, messages=sent)
        self.recorder.record("anonymous", session, "main", [turn], f"req-{id(self)}-{len(self.sessions)}",
                             len(sent) + 1, [(fingerprint("anonymous", back), history_fingerprint("anonymous", back))],
                             {})
        self.sessions.append(session)
        self.messages += [msg] + ([{"role": "user", "content": then}] if then else [])
        return session


def test_a_reply_shared_with_an_ended_conversation_does_not_steal_the_session():
    rec = SessionRecorder(TurnStore(None))
    a, b = Client(rec), Client(rec)
    a.ask("first of a")
    a.ask("", then=None)  # a's last reply is empty, and a never comes back: that turn awaits forever
    b.ask("first of b")
    b.ask("")  # b also gets an empty reply mid-way: same first user message + last reply as a's awaiting turn
    b.ask("third of b")
    assert len(set(a.sessions)) == 1 and len(set(b.sessions)) == 1, (a.sessions, b.sessions)
    assert a.sessions[0] != b.sessions[0]
    # every turn of b but its last got its next state, and a's last turn still awaits
    rows = rec.store.awaiting("anonymous", a.sessions[0])
    assert [r.turn.action for r in rows] == [""]


def test_history_fingerprint_ignores_system_prompt_whitespace_and_tool_call_ids():
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
    conv = [{"role": "system", "content": "Date: Monday"}, {"role": "user", "content": "hi  there"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"}, {"role": "assistant", "content": "It is 42."}]
    same = [{"role": "system", "content": "Date: Tuesday"}, {"role": "user", "content": "hi there"},
            {"role": "assistant", "content": "", "tool_calls": [{**call, "id": "call_9",
                                                                "function": {"name": "f", "arguments": '{"x":1}'}}]},
            {"role": "tool", "tool_call_id": "call_9", "content": " 42"}, {"role": "assistant", "content": "It is 42. "},
            {"role": "user", "content": "thanks"}]
    assert history_fingerprint("t", conv) == history_fingerprint("t", same)
    other = [*conv[:3], {"role": "tool", "tool_call_id": "call_1", "content": "41"}, conv[4]]
    assert history_fingerprint("t", other) != history_fingerprint("t", conv)
    assert fingerprint("t", other) == fingerprint("t", conv)  # the weak one cannot tell them apart
    assert history_fingerprint("u", conv) != history_fingerprint("t", conv)  # never across tenants
    assert history_fingerprint("t", conv[:2]) is None  # no reply yet: a new conversation


def test_a_client_that_compacts_its_history_is_still_matched():
    rec = SessionRecorder(TurnStore(None))
    c = Client(rec)
    c.ask("one")
    c.ask("two")
    # the client drops the middle of its history (context compaction) but keeps the opening and the last reply
    c.messages = [c.messages[0], *c.messages[-2:]]
    c.ask("three")
    assert len(set(c.sessions)) == 1, c.sessions
    rows = rec.store._tx("SELECT status FROM turns ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["recorded", "recorded", AWAITING]
