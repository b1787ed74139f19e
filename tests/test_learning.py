"""binary_rl, opd and combine each raise the reward of a tiny random model on a token-level toy task.

OPD needs a teacher that knows the target: here an oracle teacher distribution that puts 90% of its mass on
tokens made of digits (standing in for "the frozen model with the hint in context").
"""

import pytest
import torch

from claw_envs.vector import ClawVectorEnv

pytest.importorskip("transformers", reason="the [train] extra is not installed")


def _oracle_teacher(tok, turns):
    """log π_teacher of each completion token: 0.9 spread over all-digit tokens, 0.1 over the rest."""
    import math

    vocab = len(tok)
    digit = {i for i in range(vocab) if (t := tok.decode([i]).strip()) and t.isdigit()}
    hi, lo = math.log(0.9 / len(digit)), math.log(0.1 / (vocab - len(digit)))
    width = max(len(t.completion_ids) for t in turns)
    out = torch.zeros(len(turns), width)
    mask = torch.zeros(len(turns), width)
    old = torch.zeros(len(turns), width)
    for i, t in enumerate(turns):
        n = len(t.completion_ids)
        out[i, :n] = torch.tensor([hi if c in digit else lo for c in t.completion_ids])
        old[i, :n] = torch.tensor(t.logprobs)
        mask[i, :n] = 1.0
    return out, old, mask


def _run(seed: int, steps: int, tmp_path, mode: str = "binary_rl") -> tuple[float, float]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.advantages import binary_rl, combine, opd
    from claw_trainer.policy import HFPolicy
    from claw_trainer.rollout import collect
    from claw_trainer.tiny import build_tiny_model
    from claw_trainer.toy import DigitsEnv
    from claw_trainer.update import policy_update

    path = build_tiny_model(tmp_path / "tiny", seed=seed)
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    policy = HFPolicy(model, tok, max_new_tokens=8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    vec = ClawVectorEnv([DigitsEnv for _ in range(8)])
    curve = []
    for step in range(steps):
        turns = collect(vec, policy, num_turns=8, seed=seed * 1000 + step)
        rewards = torch.tensor([t.reward for t in turns])
        curve.append(float(rewards.mean()))
        a_rl = binary_rl(rewards, groups=[t.task_id for t in turns])  # GRPO within the prompt's group
        if mode == "binary_rl":
            adv = a_rl
        else:
            teacher, old, mask = _oracle_teacher(tok, turns)
            if mode == "opd":
                adv = opd(teacher, old, mask)
            else:
                hints = torch.tensor([i % 2 == 0 for i in range(len(turns))])  # half the turns get a hint
                adv, _ = combine(a_rl, torch.ones(len(turns), dtype=torch.bool), teacher, old, hints, mask,
                                 w_rl=1.0, w_opd=0.1)
        policy_update(model, opt, turns, adv, tok.pad_token_id)
    vec.close()
    return sum(curve[:5]) / 5, sum(curve[-5:]) / 5


@pytest.mark.parametrize("mode", ["binary_rl", "opd", "combine"])
def test_each_mode_learns_on_three_seeds(tmp_path, mode):
    results = [_run(seed, 40, tmp_path / str(seed), mode) for seed in (0, 1, 2)]
    for before, after in results:
        assert after > before + 0.3, results  # rewards live in [-1, 1]
