"""claw/Chat-v0: personas, the scripted and model-backed simulated users, the rating judge, problems."""

from __future__ import annotations

import asyncio
import json

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import claw_envs  # noqa: F401 - registers claw/Chat-v0
from claw_envs.chat.env import ChatEnv
from claw_envs.chat.personas import STUDENT, TEACHER
from claw_envs.chat.problems import Problem, load_gsm8k, procedural_problem, student_attempt
from claw_envs.chat.rating import ModelRating, RuleRating, parse_rating
from claw_envs.chat.user import DONE, LLMUser, ScriptedUser
from claw_envs.core.errors import ConfigError, JudgeError, TaskError
from claw_envs.core.nextstate import NextState

AI_STYLE = ("## Solution\n\nCertainly! Let's break it down step by step:\n\n- **Step 1:** work out the total\n"
            "- **Step 2:** the answer is \\boxed{{{a}}}\n\nI hope this helps!")


def plain(answer: str) -> str:
    return f"you just work it out bit by bit and you end up with {answer}, so the answer is {answer}."


def teacher_comment(s) -> str:
    verdict = (f"Your final answer is not quite right though: the correct answer is {s.problem.answer}, you "
               f"wrote {s.student_value}, so there is a small slip in your last step."
               if not s.student_correct else f"Your final answer of {s.problem.answer} is exactly right.")
    return (f"Great effort on this one! You set the problem up clearly and your first steps are neat and easy to "
            f"follow. {verdict} Keep checking each line once more before you move on, and you will catch these "
            f"slips yourself. I am proud of how organised your work is. Score: "
            f"{'6/10' if not s.student_correct else '10/10'}")


def _scenario(persona, correct=None, start=0):
    for seed in range(start, start + 200):
        s = persona.scenario(procedural_problem(seed))
        if correct is None or s.student_correct is correct:
            return s
    raise AssertionError("no such scenario in 200 seeds")


def test_registered_and_check_env():
    env = gym.make("claw/Chat-v0")
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=1)
    assert obs[0]["role"] == "user" and info["persona"] in ("student", "teacher")
    assert info["task_id"] == f"{info['persona']}/{info['problem_id']}"
    env.close()


def test_procedural_problems_reproducible_and_correct():
    for seed in range(300):
        p = procedural_problem(seed)
        assert p == procedural_problem(seed) and p.id == f"arith-{seed}"
        # every working line is true arithmetic and its last result is the answer
        for line in p.working.splitlines():
            lhs, eq, rhs = line.rpartition("=")
            if not eq:
                continue
            expr = lhs.split(":")[-1].replace("x", "*").replace("/", "//")
            assert eval(expr) == int(rhs), (seed, line)  # noqa: S307 - our own digits and operators
        assert int(p.working.splitlines()[-1].rpartition("=")[2]) == int(p.answer) >= 0
        text, value, correct = student_attempt(p)
        assert (value == p.answer) is correct and value in text and student_attempt(p) == (text, value, correct)
    assert len({procedural_problem(s).question for s in range(50)}) == 50
    wrong = sum(not student_attempt(procedural_problem(s))[2] for s in range(300))
    assert 90 < wrong < 210  # teachers see both correct and wrong attempts


def test_reset_reproducible_by_seed_and_task_id():
    env = ChatEnv()
    a, ia = env.reset(seed=42)
    b, ib = env.reset(seed=42)
    assert a == b and ia == ib
    c, ic = env.reset(options={"task_id": ia["task_id"]})
    assert c == a and ic == ia
    _, it = env.reset(seed=42, options={"persona": "teacher", "problem_id": "arith-5"})
    assert it["task_id"] == "teacher/arith-5"
    with pytest.raises(TaskError, match="persona"):
        env.reset(options={"task_id": "pirate/arith-1"})
    with pytest.raises(TaskError, match="task_id"):
        env.reset(options={"task_id": "arith-1"})
    with pytest.raises(ConfigError):
        ChatEnv(reward="vibes")


def test_student_rejects_ai_formatting_then_accepts_plain():
    env = ChatEnv(persona="student")
    obs, info = env.reset(seed=7)
    s = env.scenario
    assert "homework" in obs[0]["content"] and s.problem.question in obs[0]["content"]
    obs, r1, term, trunc, info = env.step(AI_STYLE.format(a=s.problem.answer))
    ns = info["next_state"]
    assert isinstance(ns, NextState) and ns.role == "user" and ns.kind == "chat" and not term and not trunc
    assert "rewrite" in ns.text and " ".join(s.problem.question.split()[:3]) in ns.text
    assert {"headers", "lists", "bold", "latex", "ai_phrases"} <= set(ns.payload["violations"])
    assert "bullet" in ns.payload["hint"] and DONE not in ns.text and obs[-1] == {"role": "user", "content": ns.text}
    assert info["first_response_rating"] == r1 < 0.5 and info["task_id"] == f"student/{s.problem.id}"
    obs, r2, term, trunc, info = env.step(plain(s.problem.answer))
    assert term and not trunc and DONE in info["next_state"].text and info["next_state"].done_reason == "satisfied"
    assert r2 == 1.0 and "first_response_rating" not in info and info["next_state"].payload["hint"] is None
    with pytest.raises(RuntimeError, match="reset"):
        env.step("again")


def test_student_wants_the_answer_and_brevity():
    s = _scenario(STUDENT)
    user = ScriptedUser()
    wrong = user.reply(s, [{"role": "assistant", "content": plain(str(int(s.problem.answer) + 1))}])
    assert not wrong.done and "answer" in wrong.violations
    rambling = user.reply(s, [{"role": "assistant", "content": plain(s.problem.answer) + " and so on" * 60}])
    assert rambling.violations == ("short",)


@pytest.mark.parametrize("correct", [True, False])
def test_teacher_rejects_terse_grading_accepts_detailed_friendly(correct):
    s = _scenario(TEACHER, correct=correct)
    env = ChatEnv(persona="teacher")
    obs, _ = env.reset(options={"problem_id": s.problem.id})
    assert "grading" in obs[0]["content"] and s.student_answer in obs[0]["content"]
    _, r1, term, _, info = env.step("Checked.")
    assert not term and {"detailed", "friendly", "score"} <= set(info["next_state"].payload["violations"])
    assert ("flags_error" in info["next_state"].payload["violations"]) is (not correct)
    _, r2, term, _, info = env.step(teacher_comment(env.scenario))
    assert term and r2 == 1.0 > r1 and DONE in info["next_state"].text


def test_max_turns_truncates_and_reward_schemes():
    env = ChatEnv(persona="student", max_turns=2, reward="satisfied")
    env.reset(seed=3)
    _, r, term, trunc, info = env.step("**no**")
    assert (r, term, trunc) == (0.0, False, False)
    _, r, term, trunc, info = env.step("# still\n- bad")
    assert (r, term, trunc) == (0.0, False, True) and info["next_state"].done_reason == "max_steps"
    env = ChatEnv(persona="student", reward="first")
    env.reset(seed=3)
    _, r, *_ = env.step(plain(env.scenario.problem.answer))
    assert r == 1.0
    env = ChatEnv(persona="student", reward="first")
    env.reset(seed=3)
    env.step("**bad**")
    _, r, term, *_ = env.step(plain(env.scenario.problem.answer))
    assert term and r == 0.0  # only the first reply is rewarded


def test_bad_actions_are_handled():
    env = ChatEnv(persona="student", max_action_length=1000)
    env.reset(seed=0)
    _, r, term, _, info = env.step("")
    assert r == 0.0 and not term and "actual answer" in info["next_state"].text
    _, r, term, _, info = env.step("x" * 50_000)
    assert info["next_state"].payload["action_clipped"] and len(env.messages[-2]["content"]) == 1000
    _, _, _, _, info = env.step({"role": "assistant", "content": plain(env.scenario.problem.answer)})
    assert info["next_state"].payload["satisfied"]
    env.reset(seed=0)
    with pytest.raises(TypeError, match="str"):
        env.step(123)


def test_rating_ranks_preference_following_first_reply_higher():
    rater = RuleRating()
    for seed in range(20):
        s = STUDENT.scenario(procedural_problem(seed))
        good, bad = rater.rate(s, plain(s.problem.answer)), rater.rate(s, AI_STYLE.format(a=s.problem.answer))
        assert good.score == 1.0 and bad.score < 0.5 and 0.0 <= bad.score
        t = TEACHER.scenario(procedural_problem(seed))
        good, bad = rater.rate(t, teacher_comment(t)), rater.rate(t, "Wrong." if not t.student_correct else "OK.")
        assert good.score == 1.0 > 0.5 > bad.score >= 0.0, (seed, bad)
    assert rater.rate(s, "").score == 0.0


def test_parse_rating():
    assert parse_rating("solid reply \\boxed{10}") == 1.0 and parse_rating("\\boxed{1}") == 0.0
    assert parse_rating("Rating: 4") == pytest.approx(1 / 3) and parse_rating("\\boxed{7/10}") == pytest.approx(2 / 3)
    assert parse_rating("\\boxed{11}") is None and parse_rating("no number") is None and parse_rating(None) is None
    assert parse_rating("\\boxed{0.25}", scale=1) == 0.25 and parse_rating("\\boxed{3}", scale=1) is None


class FakeBackend:
    """A backend that answers, fails, hangs or babbles, to check the user's and the rater's fallbacks."""

    name = "fake"

    def __init__(self, mode: str, text: str = ""):
        self.mode, self.text, self.seen = mode, text, []

    async def complete(self, messages, **_):
        self.seen.append(messages)
        if self.mode == "raise":
            raise ConnectionError("server down")
        if self.mode == "hang":
            await asyncio.sleep(30)
        return self.text


def test_llm_user_replies_and_fallbacks():
    s = _scenario(STUDENT)
    msgs = [{"role": "user", "content": s.first_message()}, {"role": "assistant", "content": "**bold** answer"}]
    ok = LLMUser(FakeBackend("text", f"lol thanks that's perfect {DONE}"))
    r = ok.reply(s, msgs)
    assert r.done and r.source == "model" and r.hint is None
    prompt = ok.backend.seen[0]
    assert "lazy" in prompt[0]["content"] and "**bold** answer" in prompt[1]["content"] and DONE in prompt[0]["content"]
    r = LLMUser(FakeBackend("text", "YOU: please no bold, write it like a normal person")).reply(s, msgs)
    assert not r.done and r.source == "model" and r.text.startswith("please") and r.hint == r.text
    for backend, why in [(FakeBackend("raise"), "ConnectionError"), (FakeBackend("hang"), "within"),
                         (FakeBackend("text", "  \n"), "empty"), (FakeBackend("text", "%% 7 ##"), "no words")]:
        user = LLMUser(backend, timeout=0.3)
        r = user.reply(s, msgs)
        assert r.source == "fallback" and why in r.error and not r.done and "bold" in r.violations
        assert user.stats["fallbacks"] == 1
        user.close()
    with pytest.raises(JudgeError, match="on_error"):
        LLMUser(FakeBackend("raise"), on_error="raise").reply(s, msgs)


def test_model_rating_and_fallback():
    s = _scenario(STUDENT)
    r = ModelRating(FakeBackend("text", "nice and plain \\boxed{9}")).rate(s, plain(s.problem.answer))
    assert r.source == "model" and r.score == pytest.approx(8 / 9)
    r = ModelRating(FakeBackend("text", "no idea")).rate(s, plain(s.problem.answer))
    assert r.source == "fallback" and r.score == 1.0 and "no rating" in r.error
    r = ModelRating(FakeBackend("hang"), timeout=0.3, fallback="zero").rate(s, plain(s.problem.answer))
    assert r.source == "fallback" and r.score == 0.0 and "within" in r.error


def test_llm_user_decide_rules_and_constrained_rating():
    s = _scenario(STUDENT)
    backend = FakeBackend("text", f"pls write it normally without the stars {DONE}")
    user = LLMUser(backend, decide="rules")
    msgs = [{"role": "user", "content": s.first_message()}, {"role": "assistant", "content": "**bold** answer"}]
    r = user.reply(s, msgs)  # rules say violated: the model's words, never done
    assert not r.done and r.source == "model" and DONE not in r.text and "bold" in r.violations
    r = user.reply(s, msgs[:1] + [{"role": "assistant", "content": plain(s.problem.answer)}])
    assert r.done and r.source == "scripted" and len(backend.seen) == 1  # satisfied: no model call

    class Dist(FakeBackend):
        def vote_distribution(self, messages, options):
            self.seen.append(messages)
            return {v: (1.0 if v == 7 else 0.0) for v in options}

    rater = ModelRating(Dist("text"))
    assert rater.constrained and rater.rate(s, "x").score == pytest.approx(6 / 9)
    with pytest.raises(ConfigError, match="constrained"):
        ModelRating(FakeBackend("text"), constrained=True)


def test_hf_user_and_constrained_rater_on_a_tiny_local_model(tmp_path):
    pytest.importorskip("transformers", reason="the hf: backends need the [train] extra")
    from claw_trainer.tiny import build_tiny_model

    spec = f"hf:{build_tiny_model(tmp_path / 'tiny')}"
    env = ChatEnv(persona="teacher", user=spec, rater=spec, max_turns=1,
                  user_options={"max_tokens": 12}, reward="first")
    env.reset(seed=2)
    _, reward, term, trunc, info = env.step("Checked.")
    detail = info["first_response_rating_detail"]
    assert detail["source"] == "model" and 0.0 <= reward == detail["score"] <= 1.0  # constrained: always valid
    assert (term or trunc) and info["next_state"].payload["source"] in ("model", "fallback")
    env.close()


def test_gsm8k_loader_reads_local_jsonl(tmp_path):
    pytest.importorskip("datasets")
    rows = [{"question": "Ann has 3 apples and buys 4 more. How many apples?",
             "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
            {"question": "A book costs 1,200 cents. What is it in cents?", "answer": "It is 1,200.\n#### 1,200"}]
    path = tmp_path / "gsm8k_test.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    probs = load_gsm8k(path, split="test")
    assert [p.answer for p in probs] == ["7", "1200"] and probs[0].id == "gsm8k-test-0"
    assert probs[0].working == "3 + 4 = 7" and probs[0].source == "gsm8k"
    assert load_gsm8k(tmp_path, split="test", limit=1) == probs[:1]
    env = ChatEnv(problems=str(path), persona="student")
    obs, info = env.reset(seed=0)
    assert info["problem_id"].startswith("gsm8k-test-") and any(p.question in obs[0]["content"] for p in probs)
    env.reset(options={"task_id": "teacher/gsm8k-test-1"})
    _, _, term, _, _ = env.step(teacher_comment(env.scenario))
    assert term
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "x"}) + "\n")
    with pytest.raises(TaskError, match="question"):
        load_gsm8k(bad)
    assert isinstance(probs[0], Problem)


def test_model_user_over_http_end_to_end(tmp_path):
    for mod in ("fastapi", "uvicorn", "httpx", "transformers", "torch"):
        pytest.importorskip(mod, reason=f"the model-backed user test needs the [train]/[serve] extras ({mod})")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.serve_model import ModelServer
    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "tiny")
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    with ModelServer(model, tok, name="tiny") as server:
        env = ChatEnv(persona="student", user=server.base_url, user_model="tiny", rater=server.base_url,
                      rater_model="tiny", max_turns=2, user_options={"max_tokens": 24, "timeout": 60},
                      rater_options={"max_tokens": 8, "timeout": 60})
        env.reset(seed=0)
        steps = 0
        done = False
        while not done:
            obs, reward, term, trunc, info = env.step(AI_STYLE.format(a=env.scenario.problem.answer))
            steps += 1
            done = term or trunc
            ns = info["next_state"]
            # a random tiny model writes gibberish: it either stands as a (rewrite) message or is replaced by
            # the scripted reply; either way the turn went through the server and the episode moves on
            assert ns.role == "user" and ns.payload["source"] in ("model", "fallback") and ns.text
            assert obs[-1]["content"] == ns.text and 0.0 <= reward <= 1.0
            if ns.payload["source"] == "fallback":
                assert ns.payload["error"] and ns.payload["violations"]
        assert steps <= 2 and env.user.stats["calls"] == steps and env.rater.stats["calls"] == steps
        assert env.user.stats["last_error"] is None or "HTTP" not in env.user.stats["last_error"]
        detail = env.ratings[0]
        assert detail.raw is not None  # the server answered the rating request (unparsable -> rule fallback)
        env.close()


def test_prm_rules_judge_and_vector_env_read_the_user_reply():
    from claw_envs.prm import Judge, PRMReward
    from claw_envs.prm.rules import RuleBackend

    env = PRMReward(ChatEnv(persona="teacher", reward="satisfied"), Judge(RuleBackend(), m=1))
    env.reset(seed=4)
    _, _, _, _, info = env.step("Checked.")
    assert info["reward_channels"]["process"] == -1.0  # "not quite what I wanted" reads as negative
    _, reward, term, _, info = env.step(teacher_comment(env.unwrapped.scenario))
    assert term and info["reward_channels"]["process"] == 1.0 and info["reward_channels"]["outcome"] == 1.0
    env.close()
    vec = gym.make_vec("claw/Chat-v0", num_envs=2, persona="student")
    obs, infos = vec.reset(seed=0)
    assert len(obs) == 2 and all(o[0]["role"] == "user" for o in obs)
    _, rew, term, _, infos = vec.step(("**Certainly!**", "# Answer"))
    assert not term.any() and (rew < 1).all()
    vec.close()
