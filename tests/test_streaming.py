"""Live streaming from ``claw serve``: text leaves the server as it is sampled, through the official openai SDK.

* :class:`~claw_trainer.serving.openai_format.ChoiceStream` on its own: stop strings cut exactly (text that could
  start one is held back), ``<tool_call>`` blocks become OpenAI tool-call deltas once they close.
* The HF sampler's ``on_token`` tap only observes: the samples are identical with and without it.
* A real tiny model behind ``claw serve`` (real HTTP on 127.0.0.1): the first content chunk reaches the client
  while the model is still generating (the model is held mid-generation until the client has it — an
  ordering fact, not a timing threshold); the streamed text and the recorded turn equal the non-streamed
  answer (greedy); ``n=2`` and stop strings stream; time to first chunk vs total is recorded, not asserted.
* Tool calls and disconnects with a scripted streaming policy (the tiny tokenizer, a fixed text, tokens handed
  out one by one): the tool call arrives before the text after it is sampled; a client that disconnects
  mid-stream leaves a server that records the whole turn and keeps serving.
"""

import json
import threading
import time

import pytest

openai = pytest.importorskip("openai", reason="the openai SDK is not installed (the [dev] extra)")
pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
pytest.importorskip("trl", reason="the [train] extra is not installed")

import httpx  # noqa: E402

from claw_trainer.config import load_config  # noqa: E402
from claw_trainer.serving.openai_format import ChoiceStream  # noqa: E402

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]


def _chars(text):
    """A character-level 'tokenizer' for ChoiceStream unit tests: token k is text[k]."""
    return (lambda ids: "".join(text[i] for i in ids)), list(range(len(text)))


def _run(cs, text):
    decode, ids = _chars(text)
    cs.decode = decode
    return [ev for i in ids for ev in cs.push(i)]


def test_choice_stream_holds_back_a_possible_stop_string_and_cuts_at_it():
    cs = ChoiceStream(None, ["STOP"], False, "c")
    events = _run(cs, "hello STOP world")
    assert "".join(e[1] for e in events) == "hello " and cs.stopped
    cs = ChoiceStream(None, ["STOP"], False, "c")
    decode, _ = _chars("abST")
    cs.decode = decode
    assert cs.push(0) == [("text", "a")] and cs.push(1) == [("text", "b")]
    assert cs.push(2) == [] and cs.push(3) == []  # "S", "ST" could still become "STOP"
    assert cs.finish("abST", []) == [("text", "ST")]  # it did not: the rest comes with the end


def test_choice_stream_emits_a_tool_call_when_its_block_closes():
    text = 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    cs = ChoiceStream(None, [], True, "chatcmpl-x")
    decode, ids = _chars(text)
    cs.decode = decode
    seen = []
    for i in ids:
        for ev in cs.push(i):
            seen.append((i, ev))
    assert "".join(ev[1] for _, ev in seen if ev[0] == "text") == "Let me check."  # the newline is held
    ((at, call),) = [(i, ev) for i, ev in seen if ev[0] == "call"]
    assert at == len(text) - 1  # exactly when the block closed
    assert call[1] == 0 and call[2]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    from claw_trainer.serving.openai_format import call_id
    from claw_trainer.serving.toolcalls import parse_tool_calls

    content, calls = parse_tool_calls(text)
    assert content == cs.text and calls[0]["function"] == call[2]["function"]
    assert call[2]["id"] == call_id("chatcmpl-x", 0, 0)
    # a block that is not a valid call is text after all
    cs = ChoiceStream(None, [], True, "c")
    assert "".join(e[1] for e in _run(cs, "a <tool_call>not json</tool_call> b")) == "a <tool_call>not json</tool_call> b"


def test_choice_stream_waits_for_a_split_character():
    data = "é!".encode()
    cs = ChoiceStream(lambda ids: bytes(data[i] for i in ids).decode("utf-8", "replace"), [], False, "c")
    assert cs.push(0) == [] and cs.push(1) == [("text", "é")] and cs.push(2) == [("text", "!")]


def test_the_token_tap_only_observes():
    import torch

    from claw_trainer.models import load_model
    from claw_trainer.policy.hf import HFPolicy

    model, tok = load_model("tiny")
    obs = [[{"role": "user", "content": "hello"}], [{"role": "user", "content": "a longer question here"}]]
    pol = HFPolicy(model, tok, max_new_tokens=12, temperature=1.0)
    torch.manual_seed(3)
    plain = pol.sample(obs)
    seen: dict[int, list[int]] = {0: [], 1: []}
    torch.manual_seed(3)
    tapped = pol.sample(obs, on_token=lambda row, t: seen[row].append(t))
    assert plain == tapped
    assert [seen[0], seen[1]] == [list(s.completion_ids) for s in tapped]  # each row's tokens, to its own row


# --- a real tiny model behind claw serve ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from claw_trainer.serving.stack import ServeStack

    tmp = tmp_path_factory.mktemp("streaming")
    cfg = load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp / "cache"),
                             "--train.max_new_tokens", "64", "--train.output_dir", str(tmp / "run")])
    with ServeStack(cfg) as s:
        yield s


def _client(base_url):
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120)


def _rows(store, session):
    ids = [r[0] for r in store._tx("SELECT id FROM turns WHERE session = ? ORDER BY id", (session,))]
    return [store.row(i) for i in ids]


def _hold_model_at(model, step: int, release: threading.Event):
    """Pause the model's ``step``-th forward pass until ``release`` is set (or 60 s): a hook, removed by the caller.
    Returns (handle, state): ``state['held']`` is True if it was released by the event, not the timeout."""
    state = {"calls": 0, "held": None}

    def hook(module, args, output):
        state["calls"] += 1
        if state["calls"] == step:
            state["held"] = release.wait(60)
        return output

    return model.register_forward_hook(hook), state


def test_first_chunk_arrives_while_the_model_is_still_generating(stack, record_property):
    model, _ = stack.policy.current()
    got_first = threading.Event()
    handle, state = _hold_model_at(model, 16, got_first)  # forward 16 = the 16th token's step
    msgs = [{"role": "user", "content": "tell me a long story"}]
    try:
        t0 = time.perf_counter()
        first_at, chunks = None, []
        for ch in _client(stack.base_url).chat.completions.create(model="tiny", messages=msgs, max_tokens=64,
                                                                   temperature=0, stream=True):
            chunks.append(ch)
            if first_at is None and ch.choices and ch.choices[0].delta.content:
                first_at = time.perf_counter() - t0
                got_first.set()
        total = time.perf_counter() - t0
    finally:
        handle.remove()
    assert state["held"] is True  # the client had content while the model sat at its 16th step
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    final = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert len(final) == 1 and final[0].model_extra["policy_version"] == 0
    record_property("ttft_s", first_at)  # recorded, not asserted: this run held the model for the client
    record_property("total_s", total)
    # the recorded turn equals the non-streamed answer to the same request (greedy), and what the client saw
    plain = _client(stack.base_url).chat.completions.create(model="tiny", messages=msgs, max_tokens=64,
                                                            temperature=0)
    assert text == plain.choices[0].message.content
    rows = _rows(stack.store, chunks[0].model_extra["session_id"])
    (streamed,) = rows
    (kept,) = _rows(stack.store, plain.model_extra["session_id"])
    for key in ("prompt_ids", "completion_ids", "logprobs", "policy_version", "action", "temperature", "engine"):
        assert streamed["turn"][key] == kept["turn"][key], key
    assert streamed["turn"]["completion_ids"] == final[0].choices[0].model_extra["token_ids"]


def test_timing_of_a_64_token_stream_is_recorded(stack, record_property):
    """Time to first content chunk and total latency of a free-running 64-token stream (recorded only)."""
    c = _client(stack.base_url)
    t0 = time.perf_counter()
    arrivals, n_tokens = [], 0
    for ch in c.chat.completions.create(model="tiny", max_tokens=64, temperature=1.0, stream=True,
                                        messages=[{"role": "user", "content": "one more story"}]):
        if ch.choices and ch.choices[0].delta.content:
            arrivals.append(time.perf_counter() - t0)
        if ch.choices and ch.choices[0].finish_reason:
            n_tokens = len(ch.choices[0].model_extra["token_ids"])
    total = time.perf_counter() - t0
    record_property("ttft_s", arrivals[0])
    record_property("total_s", total)
    record_property("completion_tokens", n_tokens)
    print(f"64-token stream: first content {arrivals[0] * 1000:.0f} ms, total {total * 1000:.0f} ms, "
          f"ratio {arrivals[0] / total:.2f}, {len(arrivals)} content chunks, {n_tokens} tokens")
    assert len(arrivals) > 1 and arrivals == sorted(arrivals)


def test_n_choices_and_stop_strings_stream_live(stack):
    c = _client(stack.base_url)
    msgs = [{"role": "user", "content": "count with me"}]
    chunks = list(c.chat.completions.create(model="tiny", messages=msgs, n=2, max_tokens=10, stream=True))
    texts = {0: "", 1: ""}
    for ch in chunks:
        for choice in ch.choices:
            texts[choice.index] += choice.delta.content or ""
    rows = _rows(stack.store, chunks[0].model_extra["session_id"])
    assert sorted(r["turn"]["action"] for r in rows) == sorted(texts.values())
    plain = c.chat.completions.create(model="tiny", messages=msgs, max_tokens=12, temperature=0).choices[0]
    text = plain.message.content
    assert len(text) >= 4 and "\ufffd" not in text[:4], f"the greedy answer {text!r} offers no stop string"
    stop = text[2:4]
    chunks = list(c.chat.completions.create(model="tiny", messages=msgs, max_tokens=12, temperature=0,
                                            stop=[stop], stream=True))
    streamed = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert streamed == text[:text.find(stop)]
    final = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason][0].choices[0]
    assert final.finish_reason == "stop"
    ids = final.model_extra["token_ids"]
    assert ids == plain.model_extra["token_ids"][:len(ids)]


def test_responses_stream_live_from_the_model(stack):
    model, _ = stack.policy.current()
    got_first = threading.Event()
    handle, state = _hold_model_at(model, 12, got_first)
    try:
        events = []
        for e in _client(stack.base_url).responses.create(model="tiny", input="tell me a story",
                                                           max_output_tokens=32, temperature=0, stream=True):
            events.append(e)
            if e.type == "response.output_text.delta":
                got_first.set()
    finally:
        handle.remove()
    assert state["held"] is True
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] in (
        "response.completed", "response.incomplete")
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == final.output_text
    (row,) = _rows(stack.store, final.model_extra["session_id"])
    assert row["turn"]["completion_ids"] == final.model_extra["token_ids"]


# --- a scripted streaming policy: tool calls and disconnects ---------------------------------------------------

class ScriptedStreamer:
    """A policy for ``build_proxy`` that streams a fixed text token by token (the tiny tokenizer's tokens).
    ``gate(k)`` (optional) is called before token k is handed out; it may block."""

    streams = True

    def __init__(self, tokenizer, text, gate=None):
        self.tokenizer, self.text, self.gate = tokenizer, text, gate
        self.version = 0
        self.finished = threading.Event()

    def generate(self, req, raw_messages=None, on_token=None):
        from claw_trainer.policy.hf import Sample, chat_prompt_ids
        from claw_trainer.serving.policy import Generation

        prompt = chat_prompt_ids(self.tokenizer, req.messages, req.tools)
        ids = self.tokenizer(self.text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        for k, t in enumerate(ids):
            if self.gate:
                self.gate(k)
            if on_token:
                on_token(0, t)
        self.finished.set()
        s = Sample(tuple(prompt), tuple(ids), tuple([0.0] * len(ids)), self.decode(ids), "stop", 0, 1.0, 1.0, 0, "hf")
        return [Generation(s, 0, self.tokenizer.convert_ids_to_tokens(ids))]

    def decode(self, ids):
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def pieces(self, ids):
        return None

    def close(self):
        pass


class Server:
    def __init__(self, policy, tmp):
        import socket

        import uvicorn

        from claw_trainer.serving.proxy import build_proxy
        from claw_trainer.serving.sessions import SessionRecorder
        from claw_trainer.serving.store import TurnStore

        self.store = TurnStore(tmp / "turns.sqlite")
        self.app = build_proxy(policy, SessionRecorder(self.store))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.store.close()


CALL_TEXT = ('Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
             'and then some more words after the call')


@pytest.fixture(scope="module")
def tok():
    from claw_trainer.models import load_model

    return load_model("tiny")[1]


def _gate_after_call(tok, release):
    """Block before the first token after ``</tool_call>`` until ``release`` (60 s at most); records if held."""
    ids = tok(CALL_TEXT, add_special_tokens=False)["input_ids"]
    after = next(k for k in range(1, len(ids) + 1) if "</tool_call>" in tok.decode(ids[:k]))
    state = {"held": None}

    def gate(k):
        if k == after:
            state["held"] = release.wait(60)
    return gate, state


def test_a_tool_call_streams_in_openai_delta_format_as_soon_as_it_closes(tok, tmp_path):
    got_call = threading.Event()
    gate, state = _gate_after_call(tok, got_call)
    with Server(ScriptedStreamer(tok, CALL_TEXT, gate), tmp_path) as srv:
        chunks = []
        for ch in _client(srv.base_url).chat.completions.create(model="tiny", tools=TOOLS, stream=True, messages=[
                {"role": "user", "content": "weather in Paris?"}]):
            chunks.append(ch)
            if ch.choices and ch.choices[0].delta.tool_calls:
                got_call.set()
        rows = _rows(srv.store, chunks[0].model_extra["session_id"])
    assert state["held"] is True  # the call reached the client before the text after it was sampled
    deltas = [d for ch in chunks if ch.choices for d in ch.choices[0].delta.tool_calls or []]
    head, args = deltas
    assert head.index == 0 and head.id.startswith("call_") and head.type == "function"
    assert head.function.name == "get_weather" and head.function.arguments == ""
    assert args.index == 0 and args.id is None and json.loads(args.function.arguments) == {"city": "Paris"}
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    final = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason][0]
    assert final.choices[0].finish_reason == "tool_calls"
    stored = rows[0]["response"]["choices"][0]["message"]
    assert text == stored["content"] == "Let me check.\n\nand then some more words after the call"
    assert stored["tool_calls"][0]["id"] == head.id  # the id the client got is the one the store replays
    assert rows[0]["turn"]["action"] == CALL_TEXT


def test_responses_stream_a_function_call_item_live(tok, tmp_path):
    got_call = threading.Event()
    gate, state = _gate_after_call(tok, got_call)
    with Server(ScriptedStreamer(tok, CALL_TEXT, gate), tmp_path) as srv:
        events = []
        for e in _client(srv.base_url).responses.create(model="tiny", input="weather in Paris?", stream=True,
                                                         tools=[{"type": "function", **TOOLS[0]["function"]}]):
            events.append(e)
            if e.type == "response.function_call_arguments.done":
                got_call.set()
    assert state["held"] is True
    final = events[-1].response
    assert events[-1].type == "response.completed"
    assert [item.type for item in final.output] == ["message", "function_call"]
    added = [e.item for e in events if e.type == "response.output_item.added"]
    assert [i.type for i in added] == ["message", "function_call"]
    assert [e.output_index for e in events if e.type == "response.output_item.added"] == [0, 1]
    assert final.output[1].call_id == added[1].call_id and final.output[1].name == "get_weather"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == final.output_text


def test_a_client_that_disconnects_mid_stream_loses_no_turn(tok, tmp_path):
    release = threading.Event()
    policy = ScriptedStreamer(tok, "one two three four five six seven eight nine ten",
                              lambda k: k == 3 and release.wait(60))
    with Server(policy, tmp_path) as srv:
        with httpx.stream("POST", f"{srv.base_url}/chat/completions", timeout=60, json={
                "model": "tiny", "stream": True, "messages": [{"role": "user", "content": "count"}]}) as r:
            seen = ""
            for line in r.iter_lines():  # read until some content came, then hang up
                if line.startswith("data: {"):
                    seen += "".join(c["delta"].get("content") or "" for c in json.loads(line[6:])["choices"])
                if seen:
                    break
        assert seen and not policy.finished.is_set()
        # the connection is closed; the rest is sampled and recorded
        release.set()
        assert policy.finished.wait(60)
        deadline = time.monotonic() + 30
        while not srv.store._tx("SELECT id FROM turns").fetchall() and time.monotonic() < deadline:
            time.sleep(0.05)
        (row,) = [srv.store.row(i) for (i,) in srv.store._tx("SELECT id FROM turns")]
        policy.gate = None
        after = _client(srv.base_url).chat.completions.create(model="tiny", messages=[
            {"role": "user", "content": "still there?"}])
        handled = dict(srv.app.state.handler.requests)
    assert row["turn"]["action"] == "one two three four five six seven eight nine ten"
    assert len(row["turn"]["completion_ids"]) == len(row["turn"]["logprobs"]) > 10
    assert after.choices[0].message.content == "one two three four five six seven eight nine ten"
    assert handled["error"] == 0 and handled["streamed"] == 1


def test_shutdown_waits_for_the_turn_of_a_client_that_left(tok, tmp_path):
    release = threading.Event()
    policy = ScriptedStreamer(tok, "one two three four five", lambda k: k == 3 and release.wait(60))
    srv = Server(policy, tmp_path).__enter__()
    try:
        with httpx.stream("POST", f"{srv.base_url}/chat/completions", timeout=60, json={
                "model": "tiny", "stream": True, "messages": [{"role": "user", "content": "count"}]}) as r:
            next(line for line in r.iter_lines() if '"content": "o' in line)
        threading.Timer(1.0, release.set).start()  # the rest is sampled while the server shuts down
        srv.server.should_exit = True
        srv.thread.join(timeout=60)
        assert not srv.thread.is_alive() and policy.finished.is_set()
        rows = srv.store._tx("SELECT id FROM turns").fetchall()
        assert len(rows) == 1 and srv.store.row(rows[0][0])["turn"]["action"] == "one two three four five"
    finally:
        release.set()
        srv.__exit__()
