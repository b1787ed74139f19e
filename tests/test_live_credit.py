"""Live learning with the shortest config: `claw serve --learn` with only a model and a rule judge trains.

Live (served) turns get personal-agent credit by default — the judge's vote is the advantage — and a
configuration that cannot produce signal says so in /health (and the log) within one judged batch.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

openai = pytest.importorskip("openai", reason="the openai SDK is not installed (the [dev] extra)")
pytest.importorskip("trl", reason="the [train] extra is not installed")

import httpx  # noqa: E402

from claw_trainer.config import load_config  # noqa: E402
from claw_trainer.store import TurnStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OPENERS = ["hello, what is 2+2?", "write a haiku about tea", "what is the capital of France?",
           "list three colours", "how do I sort a list in python?"]
REPLIES = [["thanks, perfect", "that's wrong, try again"], ["no, that is not what I asked", "great, works"]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session(client, k: int) -> None:
    """One conversation through the openai SDK: an opener, then the user thanks or complains (twice)."""
    history = [{"role": "user", "content": OPENERS[k % len(OPENERS)]}]
    for reply in [*REPLIES[k % 2], None]:
        r = client.chat.completions.create(model="tiny", messages=history, extra_headers={"X-Session-Id": f"s{k}"})
        history.append({"role": "assistant", "content": r.choices[0].message.content or ""})
        if reply is not None:
            history.append({"role": "user", "content": reply})


def test_claw_serve_learn_with_only_a_model_and_a_rule_judge_trains(tmp_path):
    """The README's minimal config, through the `claw serve --learn` command and the official openai SDK."""
    cfg = tmp_path / "serve.yaml"  # the minimal config; cache_dir/output_dir only keep the test in tmp_path
    cfg.write_text(f"model: {{name: tiny, cache_dir: {tmp_path / 'cache'}}}\njudge: {{backend: rules}}\n"
                   f"train: {{output_dir: {tmp_path / 'run'}}}\n")
    port = _free_port()
    err = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "claw_trainer.cli", "serve", "--learn", "--config", str(cfg),
                             "--port", str(port)], stdout=err, stderr=subprocess.STDOUT, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    health_url = f"http://127.0.0.1:{port}/health"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(health_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "claw serve did not come up"
            time.sleep(0.3)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=120)
        for k in range(5):  # 10 judged turns (+1/-1 votes); the default batch is 8
            _session(client, k)
        deadline = time.monotonic() + 300
        while (health := httpx.get(health_url, timeout=10).json())["policy_version"] < 1:
            assert time.monotonic() < deadline, health
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)  # graceful: serve_forever stops the loops and closes the store
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert health["policy_version"] >= 1 and health["status"] == "ok"
    sig = health["signal"]
    assert sig["judged"] >= 8 and sig["dropped_no_signal"] == 0 and sig["warning"] is None, sig
    store = TurnStore(tmp_path / "run" / "turns.sqlite")
    trained = [store.row(i) for i in store.ids("trained")]
    store.close()
    assert len(trained) == 8
    for row in trained:  # personal-agent credit: the vote is the advantage
        vote = row["judgement"]["process"]
        assert vote in (1.0, -1.0) and json.loads(row["credit"])["a_rl"] == vote
    assert {json.loads(r["credit"])["a_rl"] for r in trained} == {1.0, -1.0}


def test_a_config_that_cannot_produce_signal_is_reported_within_one_batch(tmp_path, caplog):
    """Live turns in prompt groups of one under group_norm normalise to 0: /health says so after one batch."""
    from claw_trainer.serving.stack import ServeStack

    cfg = load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"),
                             "--judge.backend", "rules", "--judge.m", "1", "--method.live_groups", "prompt",
                             "--method.live_group_size", "1", "--train.batch_size", "4",
                             "--train.max_new_tokens", "8", "--train.output_dir", str(tmp_path / "run")])
    with ServeStack(cfg, learn=True) as stack:
        client = openai.OpenAI(base_url=stack.base_url, api_key="none", max_retries=0, timeout=120)
        for k in range(2):  # 4 judged turns = one batch
            _session(client, k)
        deadline = time.monotonic() + 120
        while (sig := httpx.get(f"http://{stack.host}:{stack.port}/health", timeout=10).json()["signal"])[
                "judged"] < 4:
            assert time.monotonic() < deadline, sig
            time.sleep(0.2)
    assert sig["warning"] == f"{sig['dropped_no_signal']} of {sig['judged']} judged turns dropped: no signal — " \
                             "group_norm on groups of one?"
    assert sig["dropped_no_signal"] == sig["judged"] >= 4 and sig["trained"] == 0
    assert any("group_norm on groups of one?" in r.getMessage() for r in caplog.records)


def test_live_grouping_needs_group_norm_and_a_known_rule():
    from claw_envs.core.errors import ConfigError

    with pytest.raises(ConfigError, match="live_groups=prompt normalises within groups"):
        load_config(None, ["--method.live_groups", "prompt", "--method.group_norm", "false"])
    with pytest.raises(ConfigError, match="method.live_groups must be"):
        load_config(None, ["--method.live_groups", "session"])
