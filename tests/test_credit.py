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
