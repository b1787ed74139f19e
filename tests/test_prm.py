"""The judge: parsing and aggregation edge cases, real HTTP failure modes, caching, bounded concurrency, the
PRMReward wrapper (sync, async, vector env), and an end-to-end HTTP judge against `claw serve-model`."""

import http.server
import json
import threading
import time

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import claw_envs  # noqa: F401
from claw_envs.core.task import Check, Task
from claw_envs.prm import Judge, OpenAIBackend, PRMReward, RuleBackend, Turn, rule_vote
from claw_envs.prm.evaluate import cohen_kappa, load_cases, report
from claw_envs.prm.prompts import build_messages, majority, mean, parse_hint, parse_vote, select_hint
from claw_envs.vector import ClawVectorEnv
from tests.conftest import needs_local

TURN = Turn(action="Here is the fix.", next_text="thanks, works now!", next_role="user")


@pytest.mark.parametrize("text, mode, vote", [
    ("no box at all", "binary", None),
    ("\\boxed{1} ... on reflection \\boxed{-1}", "binary", -1),
    ("\\boxed{+1}", "binary", 1),
    ("\\boxed{ 0 }", "binary", 0),
    ("\\boxed{\\text{-1}}", "binary", -1),
    ("\\boxed{{1}}", "binary", None),
    ("\\boxed{1.0}", "binary", 1),
    ("\\boxed{2}", "binary", None),
    ("\\boxed{0}", "step", None),
    ("\\boxed{yes}", "binary", None),
    ("\\boxed{1", "binary", None),
    ("", "hint", None),
])
def test_parse_vote(text, mode, vote):
    assert parse_vote(mode, text) == vote


def test_aggregation_and_hint_selection():
    assert majority([1, 1, -1]) == 1.0 and majority([1, -1, None]) == 0.0  # tie -> 0
    assert majority([None, None, None]) == 0.0 and majority([0, 0, 1]) == 0.0 and majority([-1, None, -1]) == -1.0
    assert mean([1, -1, 1]) == pytest.approx(1 / 3) and mean([None, None]) == 0.0 and mean([-1, None]) == -1.0
    assert parse_hint("\\boxed{1} [HINT_START] use -r [HINT_END] [HINT_START]recurse with -r flag[HINT_END]") == \
        "recurse with -r flag"
    assert parse_hint("\\boxed{1} no tags") is None
    hints = ["short", "a much longer useful hint", "the longest hint but from a -1 vote!!", None]
    assert select_hint([1, 1, -1, 1], hints) == "a much longer useful hint"
    assert select_hint([1, -1], ["tiny", None]) is None  # 10 characters or fewer is not a candidate


def test_prompts_carry_the_evidence_and_the_rules():
    msgs = build_messages("step", "rm -rf build", "environment", "[exit code: 0]", task="clean up",
                          history=[{"role": "user", "content": "earlier"}], step=3)
    body = msgs[1]["content"]
    assert "clean up" in body and "earlier" in body and "Step 3 action" in body and "\\boxed{-1}" in body
    long = build_messages("binary", "a" * 10_000, "user", "b" * 10_000)[1]["content"]
    assert len(long) < 6000 and "characters cut" in long


def test_metrics_kappa():
    assert cohen_kappa([1, -1, 0, 1], [1, -1, 0, 1]) == 1.0
    rep = report([1, 1, -1, -1], [1, -1, -1, 1], ["a"] * 4, 0, 1.0)
    assert rep.accuracy == 0.5 and rep.kappa == pytest.approx(0.0) and rep.precision[1] == 0.5


def test_rule_judge_and_labelled_cases_load():
    assert rule_vote("user", "thanks, perfect")[0] == 1
    assert rule_vote("user", "no, that's wrong, try again")[0] == -1
    assert rule_vote("environment", "ls: cannot access 'x': No such file\n[exit code: 2]")[0] == -1
    assert rule_vote("environment", "==== 2 failed, 10 passed ====")[0] == -1
    assert rule_vote("environment", "12 passed in 0.3s")[0] == 1
    vote, hint = rule_vote("tool", "Error: unknown column 'nme'", mode="hint")
    assert vote == 1 and "unknown column" in hint
    # a user's long request keeps its last want (Chat-v0's teacher asks for the score last)
    from claw_envs.chat.personas import get_persona
    from claw_envs.chat.problems import procedural_problem
    from claw_envs.chat.user import ScriptedUser

    s = get_persona("teacher").scenario(procedural_problem(7))
    follow = ScriptedUser().reply(s, [{"role": "user", "content": s.first_message()}, {"role": "assistant", "content": "ok"}])
    vote, hint = rule_vote("user", follow.text, mode="hint")
    assert vote == 1 and len(follow.text) > 200 and "a score at the end" in hint
    cases = load_cases("tasks/judge/cases.jsonl")
    assert len(cases) >= 80 and {c["kind"] for c in cases} == {"chat", "tool", "terminal", "swe", "gui"}


class _Handler(http.server.BaseHTTPRequestHandler):
    behaviour = "garbage"
    active = 0
    peak = 0
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        cls = type(self)
        with cls.lock:
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
        try:
            if cls.behaviour == "slow":
                time.sleep(0.3)
                body, code = {"choices": [{"message": {"content": "fine \\boxed{1}"}}]}, 200
            elif cls.behaviour == "hang":
                time.sleep(3)
                body, code = {}, 200
            elif cls.behaviour == "500":
                body, code = {"error": "boom"}, 500
            else:
                body, code = None, 200
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"<<<not json>>>" if body is None else json.dumps(body).encode())
        finally:
            with cls.lock:
                cls.active -= 1


@pytest.fixture
def fake_server():
    """A real HTTP server on 127.0.0.1 misbehaving as told (a fresh handler class: no state across tests)."""
    handler = type("Handler", (_Handler,), {"active": 0, "peak": 0, "lock": threading.Lock()})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.handler = handler
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()


@pytest.mark.parametrize("behaviour", ["garbage", "500", "hang"])
def test_broken_http_judges_give_invalid_votes_never_exceptions(fake_server, behaviour):
    fake_server.handler.behaviour = behaviour
    judge = Judge(OpenAIBackend(f"http://127.0.0.1:{fake_server.server_port}/v1"), m=3, timeout=0.5, retries=1)
    j = judge.score(TURN)
    assert j.score == 0.0 and j.votes == (None, None, None)
    s = judge.stats
    assert s.calls == 6 and s.retries == 3 and (s.timeouts if behaviour == "hang" else s.errors) == 6
    assert s.last_error
    judge.close()


def test_dead_judge_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    judge = Judge(OpenAIBackend(f"http://127.0.0.1:{port}/v1"), m=2, retries=0)
    j = judge.score(TURN)
    assert j.votes == (None, None) and judge.stats.errors == 2 and "Connect" in judge.stats.last_error
    judge.close()


def test_concurrency_bound_and_cache(fake_server):
    fake_server.handler.behaviour = "slow"
    judge = Judge(OpenAIBackend(f"http://127.0.0.1:{fake_server.server_port}/v1"), m=3, max_concurrency=2)
    futs = [judge.submit(Turn(action=f"a{i}", next_text="ok", next_role="user")) for i in range(3)]
    results = [f.result() for f in futs]
    assert all(r.score == 1.0 and r.votes == (1, 1, 1) for r in results)
    assert fake_server.handler.peak == 2  # 9 votes, never more than 2 in flight
    again = judge.score(Turn(action="a0", next_text="ok", next_role="user"))
    assert again.cached and again.score == 1.0 and judge.stats.cache_hits == 1 and judge.stats.calls == 9
    judge.close()


TASK = Task(id="t", instruction="Create /app/done.", checks=(Check("done", "test -f /app/done"),))


@needs_local
def test_prm_wrapper_channels_and_check_env():
    env = PRMReward(gym.make("claw/Terminal-v0", tasks=[TASK]), Judge(RuleBackend()), coef=0.5,
                    hint_judge=Judge(RuleBackend(), mode="hint"))
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    _, r, _, _, info = env.step("```bash\nls /nope\n```")
    ch = info["reward_channels"]
    assert ch["outcome"] == 0.0 and ch["process"] == -1.0 and r == -0.5 and ch["votes"] == [-1, -1, -1]
    assert "No such file" in ch["hint"] and ch["judge_latency"] >= 0
    env.step("```bash\ntouch /app/done\n```")
    _, r, term, _, info = env.step("submit")
    assert term and info["reward_channels"]["outcome"] == 1.0 and r == 1.0 + 0.5 * info["reward_channels"]["process"]
    env.close()


@needs_local
def test_dead_judge_is_an_error_at_once_and_never_a_silent_zero():
    from claw_envs.core.errors import JudgeError

    judge = Judge(OpenAIBackend("http://127.0.0.1:9/v1"), m=3, retries=0, timeout=1)
    with pytest.raises(JudgeError, match="cannot be reached.*serve-model"):
        PRMReward(gym.make("claw/Terminal-v0", tasks=[TASK]), judge)
    with pytest.raises(JudgeError, match="needs a judge"):
        PRMReward(gym.make("claw/Terminal-v0", tasks=[TASK]), None)
    # a judge that dies mid-run (check skipped here) never stops the episode and never scores 0 for nothing
    env = PRMReward(gym.make("claw/Terminal-v0", tasks=[TASK]), judge, check=False)
    env.reset(seed=0)
    _, r, _, _, info = env.step("```bash\ntouch /app/done\n```")
    ch = info["reward_channels"]
    assert r == 0.0 and ch["process"] is None and ch["invalid_votes"] == 3 and "Connect" in ch["judge_error"]
    _, r, term, _, _ = env.step("submit")
    assert term and r == 1.0
    env.close()


@needs_local
def test_async_judging_and_vector_env(fake_server):
    fake_server.handler.behaviour = "slow"
    url = f"http://127.0.0.1:{fake_server.server_port}/v1"
    env = PRMReward(gym.make("claw/Terminal-v0", tasks=[TASK]), Judge(OpenAIBackend(url), m=1),
                    async_judging=True)
    env.reset(seed=0)
    _, r, _, _, info = env.step("```bash\necho hi\n```")
    # the step returned while the (0.3 s) judgement is still running: env steps never wait for the judge
    assert info["reward_channels"]["pending"] and r == 0.0 and not env._pending[0][2].done()
    done = env.collect(wait=True)
    assert [(ep, st, ch["process"]) for ep, st, ch in done] == [(0, 1, 1.0)] and env.collect() == []
    env.close()
    vec = ClawVectorEnv([lambda: PRMReward(gym.make("claw/Terminal-v0", tasks=[TASK]), Judge(RuleBackend()))
                         for _ in range(3)])
    vec.reset(seed=0)
    # false fails; `true` exits 0 but does nothing (no evidence: 0); real work that exits cleanly earns +1
    _, rew, _, _, infos = vec.step(["```bash\nfalse\n```", "```bash\ntrue\n```",
                                    "```bash\nmkdir -p /app/out && ls /app\n```"])
    assert infos["reward_channels"]["process"].tolist() == [-1.0, 0.0, 1.0] and rew.tolist() == [-1, 0, 1]
    vec.close()


def test_http_judge_end_to_end_against_serve_model(tmp_path):
    pytest.importorskip("fastapi")
    httpx = pytest.importorskip("httpx")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.serve_model import ModelServer
    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "tiny")
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    with ModelServer(model, tok, name="tiny") as server:
        r = httpx.post(server.base_url + "/chat/completions", timeout=60, json={
            "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "n": 2, "logprobs": True,
            "top_logprobs": 2, "seed": 1})
        body = r.json()
        assert r.status_code == 200 and len(body["choices"]) == 2 and body["usage"]["prompt_tokens"] > 0
        c = body["choices"][0]
        assert len(c["logprobs"]["content"]) == len(c["token_ids"]) <= 8
        assert all(e["logprob"] <= 0 and len(e["top_logprobs"]) == 2 for e in c["logprobs"]["content"])
        assert httpx.post(server.base_url + "/chat/completions", json={"messages": []}).status_code == 400
        assert httpx.get(server.base_url + "/models").json()["data"][0]["id"] == "tiny"
        judge = Judge(OpenAIBackend(server.base_url, "tiny"), m=3, max_tokens=16)
        j = judge.score(TURN)
        # a random tiny model writes no \boxed{}: three real HTTP round trips, three invalid votes, score 0
        assert judge.stats.calls == 3 and judge.stats.errors == 0 and j.score == 0.0 and len(j.raw) == 3
        assert all(isinstance(x, str) for x in j.raw)
        judge.close()
        batched = Judge(OpenAIBackend(server.base_url, "tiny"), m=3, max_tokens=16, batch_votes=True)
        j = batched.score(TURN)
        assert batched.stats.calls == 1 and len(j.votes) == 3 and len(j.raw) == 3  # m samples, one request
        batched.close()


def test_transformers_backend_on_a_local_model(tmp_path):
    from claw_envs.prm import TransformersBackend
    from claw_trainer.tiny import build_tiny_model

    backend = TransformersBackend(str(build_tiny_model(tmp_path / "tiny")))
    judge = Judge(backend, m=2, max_tokens=8)
    j = judge.score(TURN)
    assert judge.stats.calls == 2 and judge.stats.errors == 0 and all(isinstance(r, str) for r in j.raw)
    judge.close()


def test_constrained_local_judge_always_gives_valid_votes(tmp_path):
    from claw_envs.prm import TransformersBackend
    from claw_trainer.tiny import build_tiny_model

    backend = TransformersBackend(str(build_tiny_model(tmp_path / "tiny")), constrained=True)
    dist = backend.vote_distribution([{"role": "user", "content": "hi"}], (-1, 0, 1))
    assert set(dist) == {-1, 0, 1} and sum(dist.values()) == pytest.approx(1.0)
    judge = Judge(backend, m=5, batch_votes=True)
    j = judge.score(TURN)
    assert judge.stats.calls == 1 and j.invalid == 0 and set(j.votes) <= {-1, 0, 1}
    step = Judge(backend, mode="step", m=3, batch_votes=True).score(TURN)
    assert set(step.votes) <= {-1, 1}  # 0 is not a step vote
    judge.close()


def test_hint_only_wrapper_records_hints_and_no_votes():
    """judge=None with a hint source: no process score or votes reach the trainer (it scores by the outcome)."""
    from claw_trainer.toy import DigitsEnv

    env = PRMReward(DigitsEnv(), None, coef=1.0, hint_judge=Judge(RuleBackend(), mode="hint", m=1))
    env.reset(seed=0)
    _, reward, _, _, info = env.step("12 34")
    ch = info["reward_channels"]
    assert ch["process"] is None and ch["votes"] is None and "hint" in ch
    assert reward == ch["outcome"] == DigitsEnv.score("12 34")
