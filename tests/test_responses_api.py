"""The Responses API (``POST /v1/responses``) through the official ``openai`` SDK's ``client.responses.create``.

* Plain and streamed answers from a local tiny model behind ``claw serve`` (real HTTP on 127.0.0.1).
* Tool calls: ``claw serve --upstream`` in front of a scripted model (the tiny model's real tokenizer and chat
  template; a random tiny model cannot call a tool on demand) — a ``function_call`` item, streamed in
  OpenAI's event format, then its ``function_call_output`` sent back.
* The same conversation sent through chat completions and through the Responses API is recorded identically
  (messages, tools, token ids), so training sees one form whichever API a client used.
"""

import json

import pytest

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
pytest.importorskip("transformers", reason="the [train] extra is not installed")
openai = pytest.importorskip("openai", reason="the openai SDK is not installed")

KEY = "sk-claw-responses"
TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
CHAT_TOOLS = [{"type": "function", "function": {k: v for k, v in t.items() if k != "type"}} for t in TOOLS]


def _cfg(tmp_path, name: str):
    from claw_trainer.config import load_config

    return load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"),
                              "--train.max_new_tokens", "8", "--train.output_dir", str(tmp_path / name)])


def _rows(store):
    return [store.row(i) for (i,) in store._tx("SELECT id FROM turns ORDER BY id")]


def test_plain_and_streamed_responses_from_the_served_model(tmp_path):
    from claw_trainer.serving.stack import ServeStack

    with ServeStack(_cfg(tmp_path, "run"), api_keys=[KEY]) as stack:
        client = openai.OpenAI(base_url=stack.base_url, api_key=KEY, max_retries=0)
        r = client.responses.create(model="tiny", input="hello there", instructions="Be brief.",
                                    max_output_tokens=8)
        assert r.object == "response" and r.id.startswith("resp_") and r.status in ("completed", "incomplete")
        assert isinstance(r.output_text, str) and r.usage.output_tokens == len(r.model_extra["token_ids"]) > 0
        assert r.usage.input_tokens == len(r.model_extra["prompt_token_ids"]) and r.model_extra["policy_version"] == 0
        if r.status == "incomplete":
            assert r.incomplete_details.reason == "max_output_tokens"

        events = list(client.responses.create(model="tiny", input=[
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]}], max_output_tokens=8, stream=True))
        kinds = [e.type for e in events]
        assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] in (
            "response.completed", "response.incomplete"), kinds
        assert [e.sequence_number for e in events] == list(range(len(events)))
        final = events[-1].response
        deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert deltas == final.output_text and final.usage.total_tokens > 0
        if final.output_text:
            assert kinds.count("response.output_text.delta") >= 1 and "response.output_text.done" in kinds

        with pytest.raises(openai.BadRequestError, match="previous_response_id"):
            client.responses.create(model="tiny", input="again", previous_response_id="resp_x")
        with pytest.raises(openai.BadRequestError, match="function tools only"):
            client.responses.create(model="tiny", input="search", tools=[{"type": "web_search"}])
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=stack.base_url, api_key="wrong", max_retries=0).responses.create(
                model="tiny", input="hi")
        rows = _rows(stack.store)
    assert len(rows) == 2 and all(r["status"] == "awaiting_next_state" for r in rows)
    assert rows[0]["turn"]["messages"] == [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "hello there"}]


def _script(messages, tools):
    results = [m["content"] for m in messages if m["role"] == "tool"]
    if results:
        return f"It is {json.loads(results[-1])['sky']} in Paris."
    if tools:
        return 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    return "No tools offered."


def test_tool_calls_stream_and_turns_match_chat_completions(tmp_path):
    from claw_trainer.models import load_model
    from claw_trainer.serving.stack import ServeStack
    from tests.scripted_upstream import ScriptedUpstream

    _, tok = load_model("tiny", cache_dir=tmp_path / "cache")
    with ScriptedUpstream(tok, _script) as up, \
            ServeStack(_cfg(tmp_path, "run"), upstream=up.base_url, api_keys=[KEY]) as stack:
        client = openai.OpenAI(base_url=stack.base_url, api_key=KEY, max_retries=0)
        question = [{"role": "user", "content": "weather in Paris?"}]
        r = client.responses.create(model="tiny", input=question, tools=TOOLS, extra_body={"session_id": "resp"})
        calls = [o for o in r.output if o.type == "function_call"]
        assert [o.type for o in r.output] == ["message", "function_call"] and r.output_text == "Let me check."
        assert calls[0].name == "get_weather" and json.loads(calls[0].arguments) == {"city": "Paris"}

        events = list(client.responses.create(model="tiny", input=question, tools=TOOLS, stream=True,
                                              extra_body={"session_id": "resp-stream"}))
        kinds = [e.type for e in events]
        args = [e for e in events if e.type == "response.function_call_arguments.done"]
        assert "response.function_call_arguments.delta" in kinds and json.loads(args[0].arguments) == {"city": "Paris"}
        added = [e.item.type for e in events if e.type == "response.output_item.added"]
        assert added == ["message", "function_call"] and kinds[-1] == "response.completed"

        # the tool's result goes back as a function_call_output item: the scripted model reads it
        follow = question + [{"type": "message", "role": "assistant",
                              "content": [{"type": "output_text", "text": "Let me check."}]},
                             {"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather",
                              "arguments": calls[0].arguments},
                             {"type": "function_call_output", "call_id": calls[0].call_id,
                              "output": json.dumps({"sky": "sunny"})}]
        r2 = client.responses.create(model="tiny", input=follow, tools=TOOLS, extra_body={"session_id": "resp"})
        assert r2.output_text == "It is sunny in Paris." and r2.model_extra["session_id"] == "resp"

        # the same two requests through chat completions, in another session
        c1 = client.chat.completions.create(model="tiny", messages=question, tools=CHAT_TOOLS,
                                            extra_body={"session_id": "chat"})
        call = c1.choices[0].message.tool_calls[0]
        c2 = client.chat.completions.create(model="tiny", tools=CHAT_TOOLS, extra_body={"session_id": "chat"},
                                            messages=question + [
                                                {"role": "assistant", "content": "Let me check.", "tool_calls": [
                                                    {"id": calls[0].call_id, "type": "function",
                                                     "function": {"name": call.function.name,
                                                                  "arguments": call.function.arguments}}]},
                                                {"role": "tool", "tool_call_id": calls[0].call_id,
                                                 "content": json.dumps({"sky": "sunny"})}])
        assert c2.choices[0].message.content == r2.output_text
        rows = {r["session"]: [] for r in _rows(stack.store)}
        for row in _rows(stack.store):
            rows[row["session"]].append(row)
    assert set(rows) == {"resp", "resp-stream", "chat"}
    for a, b in zip(rows["resp"], rows["chat"], strict=True):  # one form, whichever API the client used
        ta, tb = a["turn"], b["turn"]
        for key in ("messages", "tools", "prompt_ids", "completion_ids", "logprobs", "action", "step"):
            assert ta[key] == tb[key], key
        assert a["status"] == b["status"] and a["turn_type"] == b["turn_type"]
    first_resp, first_chat = rows["resp"][0]["turn"], rows["chat"][0]["turn"]
    assert first_resp["next_state"]["role"] == first_chat["next_state"]["role"] == "tool"
    assert first_resp["next_state"]["text"] == first_chat["next_state"]["text"] == json.dumps({"sky": "sunny"})
