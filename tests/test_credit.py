"""Credit assignment and batch preparation edge cases: crashed envs, invalid votes, foreign sampler templates."""

import pytest
import torch

from claw_envs.core.nextstate import NextState
from claw_envs.vector import ClawVectorEnv
from claw_trainer.credit import TrainSample, score_episodes
from claw_trainer.rollout import Turn

pytest.importorskip("transformers", reason="the [train] extra is not installed")


def _turn(task, ep, reward, process=None, error=None):
    return Turn((1,), (2, 3), (-0.5, -0.5), 0, "e", task, ep, 0, "a", NextState(role="tool", kind="tool", text="x"),
                reward, {"outcome": reward, "process": process}, None, True, error=error)


def test_a_crashed_episode_is_dropped_not_scored():
    # a wrong answer scores -1; a crash would score 0 and so *beat* it under GRPO if it were counted
    eps = [[_turn("a", 0, 1.0)], [_turn("a", 1, -1.0)], [_turn("a", 2, 0.0, error="sub-env 2: step timed out")]]
    samples, counts = score_episodes(eps, "binary_rl")
    assert counts["env_errors"] == 1 and counts["dropped"] == 1 and counts["kept"] == 2
    assert all(s.turn.error is None for s in samples)
    assert [s.a_rl for s in samples] == pytest.approx([1.0, -1.0], abs=1e-5)  # baseline over the two real ones


def test_the_group_baseline_uses_informative_votes_only():
    votes = [1.0, -1.0, None, 0.0, 1.0]  # no valid vote and a tie are excluded from the loss ... and the baseline
    eps = [[_turn("a", i, 0.0, process=v)] for i, v in enumerate(votes)]
    samples, _ = score_episodes(eps, "binary_rl")
    r = torch.tensor([1.0, -1.0, 1.0])
    expected = ((r - r.mean()) / (r.std(unbiased=False) + 1e-6)).tolist()
    assert [s.a_rl for s in samples] == pytest.approx(expected, abs=1e-5)
    assert [s.turn.episode for s in samples] == [0, 1, 4]


class _CrashingDigits:
    """DigitsEnv whose step raises in one sub-env (seeded): what a broken sandbox looks like to the vector env."""

    def __new__(cls, crash: bool):
        from claw_trainer.toy import DigitsEnv

        env = DigitsEnv()
        if crash:
            def boom(action):
                raise RuntimeError("sandbox died")
            env.step = boom
        return env


def test_a_crashing_sub_env_never_reaches_the_loss(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.policy import HFPolicy
    from claw_trainer.rollout import collect_episodes
    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "m")
    policy = HFPolicy(AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path),
                      max_new_tokens=4)
    vec = ClawVectorEnv([lambda c=(i == 1): _CrashingDigits(c) for i in range(4)])
    episodes = collect_episodes(vec, policy, seeds=[0] * 4)
    vec.close()
    assert episodes[1][-1].error and "sandbox died" in episodes[1][-1].error
    samples, counts = score_episodes(episodes, "binary_rl", group_norm=False)
    assert counts["env_errors"] == 1
    assert all(s.turn.episode != 1 for s in samples)


def test_opd_baseline_is_rescored_when_the_sampler_used_another_template(tmp_path):
    """A turn sampled by another engine/template (its prompt_ids differ from our re-rendering) gets the student's
    log-probs under the re-rendered prompt as its OPD baseline, so teacher − baseline is the hint's effect only."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer import core
    from claw_trainer.config import MethodConfig
    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "m")
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    msgs = [{"role": "user", "content": "Reply with digits."}]
    ours = core.rendered_prompt_ids(tok, Turn((), (), (), 0, "", None, 0, 0, "", messages=msgs))
    foreign = tok("SYSTEM: be nice\nUSER: Reply with digits.\nASSISTANT:")["input_ids"]  # another template
    comp = tok(" 12 34")["input_ids"]
    rows = []
    for prompt in (ours, foreign):
        lp = core.completion_logprobs(model, [prompt], [comp], tok.pad_token_id)["logp"][0].tolist()
        rows.append(TrainSample(Turn(tuple(prompt), tuple(comp), tuple(lp), 0, "e", "t", 0, 0, "a", hint="digits",
                                     messages=msgs), 0.0, False, True))
    method = MethodConfig(loss="opd", teacher="policy")
    inputs, metrics = core.prepare_batch(rows, core.Models(model, tok), method, 1.0, version=0)
    assert metrics["opd_prompt_mismatch"] == 1.0
    n = len(comp)
    assert torch.allclose(inputs["advantages"][0, :n], inputs["advantages"][1, :n], atol=1e-4)


# -- the same cases through the async driver (AsyncLoops over the durable store) ---------------------------------
def _ep(task, ep, rewards, votes=None, error_at=None):
    """A multi-turn episode: turn k has the env reward rewards[k] (outcome channel) and PRM vote votes[k]."""
    votes = votes or [None] * len(rewards)
    return [Turn((1,), (2, 3), (-0.5, -0.5), 0, "e", task, ep, k, "a", NextState(role="tool", kind="tool", text="x"),
                 r, {"outcome": r, "process": v}, None, k == len(rewards) - 1,
                 error="step timed out" if k == error_at else None)
            for k, (r, v) in enumerate(zip(rewards, votes, strict=True))]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path_factory.mktemp("tiny") / "m")
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def _loops(tmp_path, tiny, loss="binary_rl", group_norm=True, **method):
    from claw_trainer.async_loops import AsyncLoops
    from claw_trainer.config import MethodConfig
    from claw_trainer.learner import Learner
    from claw_trainer.store import TurnStore

    learner = Learner(*tiny, MethodConfig(loss=loss, group_norm=group_norm, **method))
    return AsyncLoops(TurnStore(tmp_path / "turns.sqlite"), None, learner, batch_size=64)


def _judge(store, ids, votes):
    for i, v in zip(ids, votes, strict=True):
        assert store.claim(i)
        store.set_judged(i, {"process": v, "hint": None})


def _through_async(tmp_path, tiny, episodes, loss="binary_rl", group_norm=True):
    """Record one env round, judge every turn with its own vote, score: {(episode, step): a_rl}, {id: reason}."""
    loops = _loops(tmp_path, tiny, loss, group_norm)
    turns = [t for ep in episodes for t in ep]
    ids = loops.store.record_group(turns, "round-0", [f"episode-{t.episode}" for t in turns])
    _judge(loops.store, ids, [t.reward_channels["process"] for t in turns])
    loops.score_pending()
    credited = {(t.episode, t.step): c["a_rl"] for _, t, _, c in loops.store.credited()}
    reasons = {i: loops.store.row(i)["reason"] for i in loops.store.ids("dropped")}
    loops.store.close()
    return credited, reasons


def _sync(episodes, loss="binary_rl", group_norm=True):
    samples, _ = score_episodes(episodes, loss, group_norm)
    return {(s.turn.episode, s.turn.step): s.a_rl for s in samples}


CASES = {
    "crash": [_ep("a", 0, [1.0]), _ep("a", 1, [-1.0]), _ep("a", 2, [0.0], error_at=0)],
    "crash mid-episode": [_ep("a", 0, [0.0, 1.0]), _ep("a", 1, [0.0, 0.0, -1.0]), _ep("a", 2, [0.0, 1.0], error_at=0)],
    "votes": [_ep("a", i, [0.0], [v]) for i, v in enumerate([1.0, -1.0, None, 0.0, 1.0])],
    "groups of episodes": [_ep("a", 0, [0.0, 1.0]), _ep("a", 1, [0.0, 0.0]), _ep("b", 2, [0.5, 0.5]),
                           _ep("b", 3, [0.0, 0.0, 0.0]), _ep("b", 4, [1.0])],
    "votes in multi-turn episodes": [_ep("a", 0, [0.0, 1.0], [1.0, -1.0]), _ep("a", 1, [0.0, 0.0], [1.0, 1.0]),
                                     _ep("b", 2, [0.0], [-1.0]), _ep("b", 3, [0.0, 0.0], [1.0, None])],
}


@pytest.mark.parametrize("group_norm", [True, False])
@pytest.mark.parametrize("case", list(CASES))
def test_the_async_driver_gives_the_sync_advantages(tmp_path, tiny, case, group_norm):
    import copy

    episodes = CASES[case]
    expected = _sync(copy.deepcopy(episodes), group_norm=group_norm)
    got, reasons = _through_async(tmp_path, tiny, copy.deepcopy(episodes), group_norm=group_norm)
    assert got.keys() == expected.keys()
    assert [got[k] for k in sorted(got)] == pytest.approx([expected[k] for k in sorted(expected)], abs=1e-5)
    crashed = sum(len(ep) for ep in episodes if any(t.error for t in ep))
    assert list(reasons.values()).count("env error in its episode") == crashed  # dropped whole


def test_an_env_round_waits_until_every_turn_is_judged(tmp_path, tiny):
    loops = _loops(tmp_path, tiny)
    episodes = CASES["groups of episodes"]
    turns = [t for ep in episodes for t in ep]
    ids = loops.store.record_group(turns, "round-0", [f"episode-{t.episode}" for t in turns])
    _judge(loops.store, ids[:-1], [None] * (len(ids) - 1))
    loops.score_pending()
    assert loops.store.credited() == [] and not loops.store.ids("dropped")  # nothing scored, nothing dropped
    _judge(loops.store, ids[-1:], [None])
    loops.score_pending()
    assert len(loops.store.credited()) == len(_sync(episodes))
    loops.store.close()


def test_live_turns_in_prompt_groups_wait_for_the_group_and_are_never_dropped_alone(tmp_path, tiny):
    loops = _loops(tmp_path, tiny, live_groups="prompt", live_group_size=2)
    store = loops.store

    def live(prompt, vote):
        i = store.record(Turn(prompt, (5, 6), (-0.5, -0.5), 0, "claw/serve", None, 0, 0, "a",
                              NextState(role="user", kind="chat", text="thanks" if vote > 0 else "wrong")))
        assert store.claim(i)
        store.set_judged(i, {"process": vote, "hint": None}, "prompt-" + "-".join(map(str, prompt)))
        return i

    a = live((1, 2), 1.0)
    loops.score_pending()
    assert store.credited() == [] and not store.ids("dropped")  # alone: it waits
    b = live((3, 4), -1.0)  # another prompt: its own group
    c = live((1, 2), -1.0)
    loops.score_pending()
    credit = {i: c["a_rl"] for i, _, _, c in store.credited()}
    assert credit == pytest.approx({a: 1.0, c: -1.0}, abs=1e-5) and b not in credit
    store.close()


def test_live_turns_get_personal_agent_credit_by_default(tmp_path, tiny):
    loops = _loops(tmp_path, tiny)  # group_norm: true (the default) does not apply to live turns
    store = loops.store
    ids = [store.record(Turn((1, 2), (5, 6), (-0.5, -0.5), 0, "claw/serve", None, 0, 0, "a",
                             NextState(role="user", kind="chat", text="x"))) for _ in range(3)]
    _judge(store, ids, [1.0, -1.0, 0.0])
    loops.score_pending()
    assert {i: c["a_rl"] for i, _, _, c in store.credited()} == {ids[0]: 1.0, ids[1]: -1.0}
    assert store.row(ids[2])["reason"] == "no signal"
    assert loops.signal_snapshot()["warning"] is None  # a vote of 0 is not a configuration problem
    store.close()


def test_a_guard_stop_halts_the_async_learner_without_losing_its_batch(tmp_path, tiny):
    """method.guard: stop in the async driver: the learner stops for good (no step, no dropped turns — the
    batch stays judged for a restart), and the reason is kept; serving is not part of this loop."""
    from claw_trainer.guard import GuardStop

    loops = _loops(tmp_path, tiny, guard="stop")
    loops.batch_size = 2
    episodes = [_ep("a", i, [1.0 if i % 2 else 0.0]) for i in range(4)]
    turns = [t for ep in episodes for t in ep]
    ids = loops.store.record_group(turns, "round-0", [f"episode-{t.episode}" for t in turns])
    _judge(loops.store, ids, [None] * len(turns))
    loops.score_pending()

    def collapse(metrics):  # what Guard.observe does when entropy and KL rise while reward falls
        raise GuardStop("entropy and KL up, reward down over 3 steps")

    loops.learner.guard.observe = collapse
    assert loops.train_once() is False
    assert loops.halted and "reward down" in loops.halted
    assert loops.learner.step == 0
    assert not loops.store.ids("dropped") and not loops.store.ids("trained")
    assert loops.store.counts().get("judged") == len(turns)
    loops.store.close()
