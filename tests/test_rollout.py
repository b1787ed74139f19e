"""Rollouts record turns token-exactly at sampling time, across concurrent sub-envs."""

import pytest
import torch

from claw_envs.toolcall import ToolCallEnv
from claw_envs.vector import ClawVectorEnv
from tests.conftest import needs_local

pytest.importorskip("transformers", reason="the [train] extra is not installed")


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.policy import HFPolicy
    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path_factory.mktemp("tiny") / "m")
    torch.manual_seed(0)
    return HFPolicy(AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path),
                    max_new_tokens=12, version=3)


def test_sampler_logprobs_are_the_policy_logprobs(policy):
    obs = [[{"role": "user", "content": "What is 2+2?"}], [{"role": "user", "content": "Hi there, a longer one."}]]
    samples = policy.sample(obs)
    for s in samples:
        assert len(s.completion_ids) == len(s.logprobs) > 0 and s.finish_reason in ("stop", "length")
        ids = torch.tensor([list(s.prompt_ids) + list(s.completion_ids)])
        with torch.no_grad():
            logp = policy.model(ids).logits.float().log_softmax(-1)[0]
        n = len(s.prompt_ids)
        forward = [float(logp[n + t - 1, tok]) for t, tok in enumerate(s.completion_ids)]
        assert forward == pytest.approx(list(s.logprobs), abs=2e-4)  # left padding did not change them
        assert s.text == policy.tokenizer.decode(list(s.completion_ids), skip_special_tokens=True)


@needs_local
def test_collect_episodes_records_turns_from_concurrent_envs(policy):
    from claw_trainer.rollout import collect_episodes

    vec = ClawVectorEnv([lambda: ToolCallEnv(tasks="generated", difficulty=1, max_steps=2) for _ in range(2)])
    episodes = collect_episodes(vec, policy, seeds=[0, 0], env_id="claw/ToolCall-v0")
    vec.close()
    assert len(episodes) == 2 and all(episodes)
    assert episodes[0][0].task_id == episodes[1][0].task_id  # same seed, same task: one GRPO group
    for ep in episodes:
        assert [t.step for t in ep] == list(range(len(ep)))
        assert all(not t.done for t in ep[:-1]) and ep[-1].done
        assert ep[-1].reward in (-1.0, 1.0) and ep[-1].error is None
        for t in ep:
            assert t.policy_version == 3 and t.env_id == "claw/ToolCall-v0" and t.task_id.startswith("gen-d1-")
            assert len(t.completion_ids) == len(t.logprobs) and t.prompt_ids and t.next_state is not None
            assert t.action == policy.tokenizer.decode(list(t.completion_ids), skip_special_tokens=True)
            assert "outcome" in t.reward_channels
    assert episodes[0][0].to_json()["next_state"]["kind"] == "tool"


def test_policy_stops_on_every_eos_id_of_the_generation_config(policy):
    """Qwen-style models list several EOS ids in generation_config: sampling stops at the first one of them
    and nothing after it (padding) is recorded as a completion token."""
    tok, model = policy.tokenizer, policy.model
    obs = [[{"role": "user", "content": "Count: 1 2 3"}]]
    torch.manual_seed(1)
    first = policy.sample(obs)[0]
    assert len(first.completion_ids) >= 2
    second_id = first.completion_ids[0]  # make the first sampled token an extra EOS id
    old = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [tok.eos_token_id, second_id]
    try:
        from claw_trainer.policy import HFPolicy

        p2 = HFPolicy(model, tok, max_new_tokens=12)
        assert second_id in p2.stop_ids and tok.eos_token_id in p2.stop_ids
        torch.manual_seed(1)
        s = p2.sample(obs)[0]
    finally:
        model.generation_config.eos_token_id = old
    assert s.completion_ids == (second_id,) and s.finish_reason == "stop" and len(s.logprobs) == 1
