"""`claw serve` through the official `openai` SDK: plain, streamed, multi-part, tools, n/stop, errors, auth,
sessions of plain clients, idempotent retries. Real HTTP on 127.0.0.1, a real tiny model (or, where a tool call
must be emitted on demand, a scripted upstream behind `claw serve --upstream`)."""

import json

import pytest

openai = pytest.importorskip("openai", reason="the openai SDK is not installed (the [dev] extra)")
pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
pytest.importorskip("trl", reason="the [train] extra is not installed")

import httpx  # noqa: E402

from claw_trainer.config import load_config  # noqa: E402
from claw_trainer.serving.store import AWAITING  # noqa: E402

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]


def _cfg(tmp, name="run"):
    return load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp / "cache"),
                              "--train.max_new_tokens", "8", "--train.output_dir", str(tmp / name)])


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("compat")


@pytest.fixture(scope="module")
def stack(tmp):
    from claw_trainer.serving.stack import ServeStack

    with ServeStack(_cfg(tmp)) as s:
        yield s


def _client(stack, key="unused", **kw):
    return openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0, timeout=120, **kw)


def _row_of(stack, session):
    ids = [r[0] for r in stack.store._tx("SELECT id FROM turns WHERE session = ? ORDER BY id", (session,))]
    return [stack.store.row(i) for i in ids]


def test_plain_multipart_content_is_answered_and_recorded(stack):
    c = _client(stack)
    r = c.chat.completions.create(model="tiny", max_completion_tokens=5, messages=[
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "what is in"}, {"type": "text", "text": "this picture?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}]}])
    choice = r.choices[0]
    assert isinstance(choice.message.content, str) and choice.finish_reason in ("stop", "length")
    ids = choice.model_extra["token_ids"]
    assert 1 <= len(ids) <= 5 and r.usage.completion_tokens == len(ids)
    assert r.usage.prompt_tokens == len(r.model_extra["prompt_token_ids"]) > 0
    (row,) = _row_of(stack, r.model_extra["session_id"])
    assert row["status"] == AWAITING and row["tenant"] == "anonymous"
    turn = row["turn"]
    assert turn["completion_ids"] == ids and len(turn["logprobs"]) == len(ids)
    user = turn["messages"][1]
    assert user["content"] == "what is in\nthis picture?" and user["images"][0]["url"].startswith("data:image/png")
    assert turn["messages"][0]["role"] == "system"


def test_stream_sends_deltas_a_final_chunk_and_usage(stack):
    c = _client(stack)
    chunks = list(c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "tell me a story"}],
                                            max_tokens=8, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    finals = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == finals[0].usage.completion_tokens
    assert len([ch for ch in chunks if ch.choices and ch.choices[0].delta.content]) >= 1
    (row,) = _row_of(stack, chunks[0].model_extra["session_id"])
    assert row["turn"]["action"] == text  # the client saw exactly what was recorded
    assert row["turn"]["completion_ids"] == finals[0].choices[0].model_extra["token_ids"]


def test_n_max_completion_tokens_and_stop(stack):
    c = _client(stack)
    msgs = [{"role": "user", "content": "count with me"}]
    r = c.chat.completions.create(model="tiny", messages=msgs, n=2, max_completion_tokens=6, temperature=1.0)
    assert [ch.index for ch in r.choices] == [0, 1]
    assert all(len(ch.model_extra["token_ids"]) <= 6 for ch in r.choices)
    assert len(_row_of(stack, r.model_extra["session_id"])) == 2
    # greedy twice: the second time with a stop string taken from the first answer
    first = c.chat.completions.create(model="tiny", messages=msgs, max_tokens=8, temperature=0).choices[0]
    text = first.message.content
    assert len(text) >= 3 and "\ufffd" not in text[:3], f"the greedy answer {text!r} offers no stop string"
    stop = text[1:3]
    cut = c.chat.completions.create(model="tiny", messages=msgs, max_tokens=8, temperature=0, stop=[stop]).choices[0]
    assert cut.message.content == text[:text.find(stop)] and cut.finish_reason == "stop"
    ids = cut.model_extra["token_ids"]
    assert ids == first.model_extra["token_ids"][:len(ids)] and len(ids) < len(first.model_extra["token_ids"])
    assert len(stack.policy.decode(ids)) >= text.find(stop) + len(stop)  # the tokens that produced the stop


def test_openai_shaped_errors(stack, tmp):
    from claw_trainer.serving.stack import ServeStack

    c = _client(stack)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hello " * 5000}])
    assert e.value.code == "context_length_exceeded" and "maximum context length is 4096" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="tiny", messages=[])
    assert e.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "x"}], temperature=7)
    assert e.value.param == "temperature"
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": [{"type": "video", "v": 1}]}])
    r = httpx.post(stack.base_url + "/chat/completions", content=b"{not json", timeout=30)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    with ServeStack(_cfg(tmp, "busy"), max_pending=0) as busy:
        with pytest.raises(openai.RateLimitError) as e:
            _client(busy).chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}])
        assert e.value.code == "rate_limit_exceeded"
        busy.store.close()  # the store is gone: nothing can be recorded, so nothing is served
        with pytest.raises(openai.InternalServerError) as e:
            _client(busy).chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}])
        assert e.value.status_code == 503 and e.value.code == "store_unavailable"
        busy.store = type(busy.store)(busy.store.path)  # for a clean stop


def test_api_keys_scope_sessions_by_tenant(tmp):
    from claw_trainer.serving.stack import ServeStack

    keys = tmp / "keys.txt"
    keys.write_text("# tenant key [+users: may name end users with X-User]\nbob sk-bob-123 +users\n")
    with ServeStack(_cfg(tmp, "auth"), api_keys=["sk-alice-1"], api_keys_file=str(keys)) as s:
        msgs = [{"role": "user", "content": "hi"}]
        with pytest.raises(openai.AuthenticationError) as e:
            _client(s, "sk-wrong").chat.completions.create(model="tiny", messages=msgs)
        assert e.value.code == "invalid_api_key"
        assert httpx.post(s.base_url + "/chat/completions", json={"messages": msgs}).status_code == 401
        a = _client(s, "sk-alice-1").chat.completions.create(model="tiny", messages=msgs, max_tokens=3)
        b = _client(s, "sk-bob-123", default_headers={"X-User": "u7"}).chat.completions.create(
            model="tiny", messages=msgs, max_tokens=3)
        with pytest.raises(openai.PermissionDeniedError) as e:  # alice's key may not name end users
            _client(s, "sk-alice-1", default_headers={"X-User": "mallory"}).chat.completions.create(
                model="tiny", messages=msgs, max_tokens=3)
        assert e.value.code == "x_user_not_allowed"
        tenants = {r["tenant"] for sid in (a.model_extra["session_id"], b.model_extra["session_id"])
                   for r in _row_of(s, sid)}
        assert tenants == {"bob/u7"} | {t for t in tenants if t.startswith("key-")} and len(tenants) == 2
        assert "sk-alice-1" not in json.dumps([_row_of(s, a.model_extra["session_id"])])


def test_two_plain_users_saying_hi_keep_separate_sessions(stack):
    c = _client(stack)
    convs = []
    for _ in range(2):
        h = [{"role": "user", "content": "hi"}]
        r = c.chat.completions.create(model="tiny", messages=h, max_tokens=6)
        h.append(r.choices[0].message.model_dump(exclude_none=True, include={"role", "content"}))
        convs.append((h, r.model_extra["session_id"]))
    assert convs[0][1] != convs[1][1]
    for k, (h, sid) in enumerate(convs):
        h.append({"role": "user", "content": f"I am user {k}"})
        r = c.chat.completions.create(model="tiny", messages=h, max_tokens=6)
        assert r.model_extra["session_id"] == sid
        first, second = _row_of(stack, sid)
        assert first["status"] == "recorded" and first["turn"]["next_state"]["text"] == f"I am user {k}"
        assert second["status"] == AWAITING and second["turn"]["step"] == 1


def test_retry_with_the_same_request_id_is_idempotent(stack):
    c = _client(stack)
    msgs = [{"role": "user", "content": "retry me"}]
    a = c.chat.completions.create(model="tiny", messages=msgs, max_tokens=5, extra_headers={"X-Request-Id": "r-1"})
    b = c.chat.completions.create(model="tiny", messages=msgs, max_tokens=5, extra_headers={"X-Request-Id": "r-1"})
    assert a.id == b.id and a.choices[0].message.content == b.choices[0].message.content
    assert len(_row_of(stack, a.model_extra["session_id"])) == 1
    s = list(c.chat.completions.create(model="tiny", messages=msgs, max_tokens=5, stream=True,
                                       extra_headers={"X-Request-Id": "r-1"}))
    assert s[0].id == a.id and "".join(ch.choices[0].delta.content or "" for ch in s if ch.choices) == \
        a.choices[0].message.content


def test_tool_history_is_rendered_by_the_chat_template(stack):
    c = _client(stack)
    msgs = [{"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                                  "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"}]
    r = c.chat.completions.create(model="tiny", messages=msgs, tools=TOOLS, max_tokens=4)
    prompt = stack.policy.tokenizer.decode(r.model_extra["prompt_token_ids"])
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in prompt
    assert "<tool_response>\nsunny, 21C\n</tool_response>" in prompt and '"name": "get_weather"' in prompt


def _weather_script(messages, tools):
    if tools and messages[-1]["role"] == "user":
        return 'Let me check.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    return "It is " + messages[-1]["content"].split(",")[0] + " in Paris."


def test_tool_calls_come_back_as_openai_tool_calls(stack, tmp):
    from claw_trainer.serving.stack import ServeStack
    from tests.scripted_upstream import ScriptedUpstream

    with ScriptedUpstream(stack.policy.tokenizer, _weather_script) as up, \
            ServeStack(_cfg(tmp, "upstream"), upstream=up.base_url) as s:
        c = _client(s)
        msgs = [{"role": "user", "content": "weather in Paris?"}]
        r = c.chat.completions.create(model="tiny", messages=msgs, tools=TOOLS)
        ch = r.choices[0]
        assert ch.finish_reason == "tool_calls" and ch.message.content == "Let me check."
        (call,) = ch.message.tool_calls
        assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
        chunks = list(c.chat.completions.create(model="tiny", messages=msgs, tools=TOOLS, stream=True))
        deltas = [d for x in chunks if x.choices for d in (x.choices[0].delta.tool_calls or [])]
        assert [d.function.name for d in deltas] == ["get_weather"]
        assert [x.choices[0].finish_reason for x in chunks if x.choices and x.choices[0].finish_reason] == \
            ["tool_calls"]
        msgs += [ch.message.model_dump(exclude_none=True, include={"role", "content", "tool_calls"}),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}]
        r2 = c.chat.completions.create(model="tiny", messages=msgs, tools=TOOLS)
        assert r2.choices[0].message.content == "It is sunny in Paris." and r2.choices[0].finish_reason == "stop"
        assert r2.model_extra["session_id"] == r.model_extra["session_id"]
        first = _row_of(s, r.model_extra["session_id"])[0]
        ns = first["turn"]["next_state"]
        assert first["status"] == "recorded" and ns["role"] == "tool" and ns["text"] == "sunny, 21C"
        assert first["turn"]["completion_ids"][-1] == stack.policy.tokenizer.eos_token_id
        assert up.app.state.requests[-1]["messages"][-1]["role"] == "tool"


def test_upstream_mode_forwards_to_claw_serve_model(stack, tmp):
    from claw_trainer.models import load_model
    from claw_trainer.serve_model import ModelServer
    from claw_trainer.serving.stack import ServeStack

    model, tok = load_model("tiny", cache_dir=tmp / "cache")
    with ModelServer(model, tok) as upstream, ServeStack(_cfg(tmp, "fwd"), upstream=upstream.base_url) as s:
        c = _client(s)
        r = c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], n=2, max_tokens=5)
        assert [len(ch.model_extra["token_ids"]) <= 5 for ch in r.choices] == [True, True]
        rows = _row_of(s, r.model_extra["session_id"])
        assert [row["turn"]["completion_ids"] for row in rows] == [ch.model_extra["token_ids"] for ch in r.choices]
        assert all(len(row["turn"]["logprobs"]) == len(row["turn"]["completion_ids"]) for row in rows)
        assert rows[0]["turn"]["prompt_ids"] == r.model_extra["prompt_token_ids"] == \
            tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=True,
                                    return_dict=True)["input_ids"]
        with pytest.raises(openai.APIStatusError) as e:  # an upstream that is gone: a 502 that says so
            upstream.__exit__()
            c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}])
        assert e.value.status_code == 502 and "did not answer" in e.value.message


def test_upstream_context_overflow_is_a_400(tmp):
    from claw_trainer.models import load_model
    from claw_trainer.serve_model import ModelServer
    from claw_trainer.serving.stack import ServeStack

    model, tok = load_model("tiny", cache_dir=tmp / "cache")
    with ModelServer(model, tok) as upstream, ServeStack(_cfg(tmp, "fwd2"), upstream=upstream.base_url) as s:
        with pytest.raises(openai.BadRequestError) as e:
            _client(s).chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hello " * 5000}])
    assert e.value.code == "context_length_exceeded" and "maximum context length is 4096" in e.value.message
