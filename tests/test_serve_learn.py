"""`claw serve --learn`: a scripted client chats over HTTP on 127.0.0.1 while the model trains and is swapped."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
pytest.importorskip("trl", reason="the [train] extra is not installed")

import httpx  # noqa: E402

from claw_trainer.config import load_config  # noqa: E402
from claw_trainer.serving.scrub import scrub_text  # noqa: E402
from claw_trainer.serving.store import TurnStore  # noqa: E402
from tests.conftest import needs_local  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _cfg(tmp_path, *extra):
    return load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"),
                              "--judge.backend", "rules", "--judge.hint", "rules", "--judge.m", "1",
                              "--method.loss", "combine", "--train.batch_size", "4", "--train.lr", "1e-3",
                              "--train.max_new_tokens", "6", "--train.output_dir", str(tmp_path / "run"), *extra])


def _chat(client, url, session, history, text, **headers):
    history.append({"role": "user", "content": text})
    r = client.post(url + "/chat/completions", json={"messages": history, "max_tokens": 6},
                    headers={"X-Session-Id": session, **headers})
    assert r.status_code == 200, r.text  # serving never refuses, also while weights are swapped
    body = r.json()
    history.append({"role": "assistant", "content": body["choices"][0]["message"]["content"]})
    return body


def test_serve_learn_records_judges_trains_and_swaps_weights(tmp_path):
    from claw_trainer.serving.stack import ServeStack

    replies = ["that's wrong, try again", "thanks, perfect", "no, that is not what I asked", "great, works"]
    versions = []
    with ServeStack(_cfg(tmp_path), learn=True, max_steps=3) as stack, httpx.Client(timeout=60) as client:
        url = stack.base_url
        s = 0
        while stack.loops.learner.step < 3 and s < 60:
            history: list = []
            body = _chat(client, url, f"s{s}", history, "hello, what is 2+2?")
            versions.append(body["policy_version"])
            for k in range(3):
                body = _chat(client, url, f"s{s}", history, replies[(s + k) % 4])
                versions.append(body["policy_version"])
            client.post(f"{url}/sessions/s{s}/close")
            _chat(client, url, f"side{s}", [], "summarise this chat", **{"X-Turn-Type": "side"})
            s += 1
        assert stack.loops.wait_steps(3, timeout=120)
        health = client.get(f"http://{stack.host}:{stack.port}/health").json()
    assert health["requests"]["error"] == 0 and health["policy_version"] == 3
    assert versions == sorted(versions) and versions[-1] >= 1  # later turns came from newer weights
    store = TurnStore(tmp_path / "run" / "turns.sqlite")
    counts = store.counts()
    rows = store.get(store.ids("trained"))
    assert counts["trained"] == 12 and counts.get("dropped", 0) >= s  # 3 steps x 4; side turns are dropped
    for _, turn, judgement in rows:
        assert turn.next_state is not None and judgement is not None
        assert len(turn.completion_ids) == len(turn.logprobs) and turn.messages
    assert {t.policy_version for _, t, _ in rows} >= {0}
    store.close()


def test_scrub_pii():
    text = "mail me at ada@example.org or call +44 20 7946 0958, key sk-abcdefghijklmnop1234"
    out = scrub_text(text)
    assert "ada@example.org" not in out and "7946" not in out and "sk-abc" not in out
    assert "[EMAIL]" in out and "[PHONE]" in out and "[KEY]" in out
    assert scrub_text("what is 12 + 30?") == "what is 12 + 30?"


def test_plain_clients_get_the_default_turn_type_and_a_conversation_session(tmp_path):
    from claw_trainer.serving.stack import ServeStack

    with ServeStack(_cfg(tmp_path), learn=False, scrub_pii=True) as stack, httpx.Client(timeout=60) as client:
        h: list = [{"role": "user", "content": "hi there"}]
        r1 = client.post(stack.base_url + "/chat/completions", json={"messages": h}).json()
        h += [r1["choices"][0]["message"], {"role": "user", "content": "my email is bob@example.com"}]
        r2 = client.post(stack.base_url + "/chat/completions", json={"messages": h}).json()
        assert r1["turn_type"] == "main" and r1["session_id"] == r2["session_id"]
        bad = client.post(stack.base_url + "/chat/completions", json={"messages": "nope"})
        assert bad.status_code == 400 and "messages" in bad.text
    store = TurnStore(tmp_path / "run" / "turns.sqlite")
    # the first turn: its next state carried an email; the second: its prompt did (written scrubbed at once)
    (_, first, _), (_, second, _) = store.get(store.ids("dropped"))
    assert "[EMAIL]" in first.next_state.text and not first.completion_ids
    assert "[EMAIL]" in second.messages[-1]["content"] and not second.completion_ids
    assert "bob@example.com" not in store.path.read_bytes().decode("latin-1")
    store.close()


def _wait_for(proc, word: str) -> bool:
    """Read the child's stdout until a line equal to ``word`` (libraries print stray blank lines) or EOF."""
    for line in proc.stdout:
        if line.strip() == word:
            return True
    return False


def test_kill_9_mid_run_loses_and_repeats_no_turn(tmp_path):
    """A trainer process is killed with SIGKILL while learning, its sessions still open: every sampled turn is
    in the store; the restarted process continues open sessions and trains every trainable turn exactly once."""
    run = tmp_path / "run"
    script = tmp_path / "feed.py"
    script.write_text(f"""
import sys, time
sys.path.insert(0, {str(ROOT)!r})
from tests.test_serve_learn import _cfg, _chat
from claw_trainer.serving.stack import ServeStack
import httpx
from pathlib import Path
stack = ServeStack(_cfg(Path({str(tmp_path)!r}), "--train.batch_size", "2", "--train.micro_batch_size", "2"), learn=True,
                   max_steps=int(sys.argv[1]), max_staleness=100).start()  # continued turns are old: keep them
with httpx.Client(timeout=60) as c:
    for s in range(int(sys.argv[2])):  # new sessions, left open (no close: their last turn awaits a next state)
        h = []
        _chat(c, stack.base_url, f"a{{s}}", h, "hi")
        _chat(c, stack.base_url, f"a{{s}}", h, "that's wrong, try again")
    for s in range(int(sys.argv[3])):  # continue sessions opened by the killed process
        h = [{{"role": "user", "content": "hi"}}, {{"role": "assistant", "content": "?"}},
             {{"role": "user", "content": "that's wrong, try again"}}, {{"role": "assistant", "content": "?"}}]
        _chat(c, stack.base_url, f"a{{s}}", h, "no, still wrong")
print("FED", flush=True)
stack.loops.wait_steps(int(sys.argv[1]), timeout=300)
print("DONE", flush=True)
time.sleep(600)
""")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "first.log").open("w")
    p = subprocess.Popen([sys.executable, str(script), "100", "12", "0"], stdout=subprocess.PIPE, stderr=log,
                         text=True, env=env)
    assert _wait_for(p, "FED")  # 24 main turns sampled (12 trainable, 12 awaiting); the learner is working
    deadline = time.monotonic() + 120
    while not (run / "learner.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    store = TurnStore(run / "turns.sqlite")
    counts = store.counts()
    assert sum(counts.values()) == 24 and counts["awaiting_next_state"] == 12  # nothing sampled was lost
    store.close()
    # restart (resumes from learner.pt, reconciles the store), continue 2 open sessions, train what is left
    p2 = subprocess.Popen([sys.executable, str(script), "7", "0", "2"], stdout=subprocess.PIPE,
                          stderr=(tmp_path / "second.log").open("w"), text=True, env=env)
    # 7 steps of 2 = the 12 trainable turns + the 2 continued ones, across both processes
    try:
        assert _wait_for(p2, "FED") and _wait_for(p2, "DONE")
    finally:
        p2.kill()
        p2.wait()
    store = TurnStore(run / "turns.sqlite")
    counts = store.counts()
    assert sum(counts.values()) == 26 and counts.get("recorded", 0) == 0 and counts.get("judged", 0) == 0
    trained = set(store.ids("trained"))
    assert len(trained) == 14 and counts["awaiting_next_state"] == 12  # 10 old sessions + 2 continued ones
    continued = [store.row(i) for i in trained if store.row(i)["turn"]["next_state"]["text"] == "no, still wrong"]
    assert sorted(r["session"] for r in continued) == ["a0", "a1"] and all(r["turn"]["step"] == 1 for r in continued)
    batches = [store.get_meta(f"batch-{n}") for n in range(1, 8)]
    flat = [i for b in batches for i in b]
    assert sorted(flat) == sorted(trained)  # every trainable turn in exactly one step's batch: none twice
    store.close()


def test_graceful_stop_keeps_open_turns_and_a_restart_continues_them(tmp_path):
    from claw_trainer.serving.stack import ServeStack

    h: list = []
    with ServeStack(_cfg(tmp_path)) as stack, httpx.Client(timeout=60) as client:
        _chat(client, stack.base_url, "g", h, "hello")
    with ServeStack(_cfg(tmp_path)) as stack, httpx.Client(timeout=60) as client:
        assert stack.store.counts() == {"awaiting_next_state": 1}
        _chat(client, stack.base_url, "g", h, "and now?")
        rows = [stack.store.row(i) for i in (1, 2)]
    assert rows[0]["status"] == "recorded" and rows[0]["turn"]["next_state"]["text"] == "and now?"
    assert rows[1]["status"] == "awaiting_next_state" and rows[1]["turn"]["step"] == 1


@needs_local
def test_claw_train_async_runs_the_four_loops(tmp_path):
    from claw_trainer.cli import main

    out = tmp_path / "async"
    assert main(["train", "--async", "--config", str(ROOT / "configs" / "quickstart.yaml"), "--model.name", "tiny",
                 "--model.cache_dir", str(tmp_path / "cache"), "--judge.backend", "rules", "--judge.hint", "rules",
                 "--env.num_envs", "4", "--env.group_size", "2", "--train.max_new_tokens", "8", "--train.steps", "3",
                 "--train.batch_size", "4", "--train.micro_batch_size", "2", "--train.output_dir", str(out),
                 "--train.max_rounds", "4"]) == 0  # quickstart's sync-only max_rounds: --async refuses it
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and all(r["samples"] == 4 for r in rows)
    store = TurnStore(out / "turns.sqlite")
    assert store.counts()["trained"] == 12
    for _, t, j in store.get(store.ids("trained")):
        assert t.policy_version <= 3 and j is not None and t.env_id == "claw/ToolCall-v0"
    store.close()
    assert (out / "report.md").is_file() and (out / "final" / "config.json").is_file()


def test_stale_samples_are_dropped_or_downweighted(tmp_path):
    from claw_trainer.config import MethodConfig
    from claw_trainer.credit import TrainSample
    from claw_trainer.learner import Learner
    from claw_trainer.models import load_model
    from claw_trainer.rollout import Turn

    model, tok = load_model("tiny", cache_dir=tmp_path / "cache")
    samples = [TrainSample(Turn((1,), (2,), (-1.0,), v, "e", "t", 0, 0, "a"), 1.0, True, False) for v in (0, 5, 9)]
    for stale, expect in (("drop", ([5, 9], [0], [1.0, 1.0])), ("downweight", ([0, 5, 9], [], [0.5, 1.0, 1.0]))):
        learner = Learner(model, tok, MethodConfig(loss="binary_rl"), max_staleness=4, stale=stale)
        learner.step = 9
        keep, dropped, weights = learner.split_stale(samples)
        assert ([s.turn.policy_version for s in keep], [s.turn.policy_version for s in dropped], weights) == expect


class _Poisoned:
    """Fault injection around the real judge / learner: raises for turns whose next state says ``word``."""

    def __init__(self, inner, word):
        self.inner, self.word = inner, word

    def score(self, turn):
        if self.word in turn.next_text:
            raise RuntimeError(f"poisoned turn ({self.word})")
        return self.inner.score(turn)

    def train_step(self, samples, weights=None):
        if any(self.word in (s.turn.next_state.text if s.turn.next_state else "") for s in samples):
            raise RuntimeError(f"poisoned batch ({self.word})")
        return self.inner(samples, weights)


def test_poison_pills_are_dropped_with_a_reason_and_the_loops_go_on(tmp_path):
    from claw_trainer.serving.stack import ServeStack

    with ServeStack(_cfg(tmp_path, "--train.batch_size", "2", "--train.micro_batch_size", "2"), learn=True,
                    max_steps=1) as stack, httpx.Client(timeout=60) as client:
        loops = stack.loops
        loops.judge = _Poisoned(loops.judge, "POISON-J")
        learner_poison = _Poisoned(loops.learner.train_step, "POISON-L")
        loops.learner.train_step = learner_poison.train_step
        for k, reply in enumerate(["POISON-J that's wrong", "POISON-L that's wrong", "POISON-L that's wrong"]):
            h: list = []
            _chat(client, stack.base_url, f"p{k}", h, "hello")
            _chat(client, stack.base_url, f"p{k}", h, reply)
        good = ["that's wrong, try again", "thanks, perfect", "no, that is not what I asked", "great, works"]
        for k in range(3, 8):
            h = []
            for reply in ["hello, what is 2+2?", *good]:
                _chat(client, stack.base_url, f"p{k}", h, reply)
            if loops.learner.step >= 1:
                break
        assert loops.wait_steps(1, timeout=240)  # the good turns still train after both poisons
        health = client.get(f"http://{stack.host}:{stack.port}/health")
        reasons = dict(stack.store._tx("SELECT session, reason FROM turns WHERE step IS NULL AND status = 'dropped' "
                                       "AND turn_type = 'main'").fetchall())
    assert health.status_code == 200 and health.json()["status"] == "ok"
    h = health.json()["loops"]
    assert h["judge"]["alive"] and h["judge"]["errors"] == 1 and "POISON-J" in h["judge"]["last_error"]
    assert h["train"]["alive"] and h["train"]["errors"] == 1 and "POISON-L" in h["train"]["last_error"]
    assert set(h) == {"judge", "train", "publish"} and all("queue_depth" in v for v in h.values())
    assert reasons["p0"].startswith("judge error: RuntimeError: poisoned turn")
    assert reasons["p1"].startswith("learner error") and reasons["p2"].startswith("learner error")


class _GoneStore:
    """Fault injection: a turn store whose disk went away (every call raises, as sqlite3 would)."""

    def __getattr__(self, name):
        def fail(*a, **k):
            raise sqlite3.OperationalError("disk I/O error")
        return fail


def test_a_dead_loop_shows_in_health_and_fails_the_waiter(tmp_path):
    from claw_trainer.serving.health import LoopDied
    from claw_trainer.serving.stack import ServeStack

    with ServeStack(_cfg(tmp_path), learn=True, max_steps=1) as stack, httpx.Client(timeout=60) as client:
        stack.loops.store = _GoneStore()  # the judge loop's backfill scan fails: that loop cannot go on
        with pytest.raises(LoopDied, match="judge: OperationalError: disk I/O error"):
            stack.loops.wait_steps(1, timeout=60)
        r = client.get(f"http://{stack.host}:{stack.port}/health")
        stack.loops.store = stack.store
    assert r.status_code == 503 and r.json()["status"] == "degraded"
    loops = r.json()["loops"]
    assert loops["judge"]["alive"] is False and "disk I/O error" in loops["judge"]["died"]
    assert loops["train"]["alive"] and loops["train"]["errors"] >= 1  # the train loop retries its passes
