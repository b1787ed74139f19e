"""binary_rl (GRPO-normalised) raises the reward of a tiny random model on a token-level toy task."""

import pytest
import torch

from claw_envs.vector import ClawVectorEnv

pytest.importorskip("transformers", reason="the [train] extra is not installed")


def _run(seed: int, steps: int, tmp_path) -> tuple[float, float]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.advantages import binary_rl
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
        adv = binary_rl(rewards, groups=[t.task_id for t in turns])  # GRPO within the prompt's group
        policy_update(model, opt, turns, adv, tok.pad_token_id)
    vec.close()
    return sum(curve[:5]) / 5, sum(curve[-5:]) / 5


def test_binary_rl_learns_on_three_seeds(tmp_path):
    results = [_run(seed, 40, tmp_path / str(seed)) for seed in (0, 1, 2)]
    for before, after in results:
        assert after > before + 0.3, results  # rewards live in [-1, 1]
