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
def test_collect_records_turns_from_concurrent_envs(policy):
    from claw_trainer.rollout import collect

    vec = ClawVectorEnv([lambda: ToolCallEnv(tasks="generated", difficulty=1, max_steps=2) for _ in range(2)])
    turns = collect(vec, policy, num_turns=7, env_id="claw/ToolCall-v0", seed=0)
    vec.close()
    assert len(turns) == 7
    for t in turns:
        assert t.policy_version == 3 and t.env_id == "claw/ToolCall-v0" and t.task_id.startswith("gen-d1-")
        assert len(t.completion_ids) == len(t.logprobs) and t.prompt_ids and t.next_state is not None
        assert t.action == policy.tokenizer.decode(list(t.completion_ids), skip_special_tokens=True)
        assert "outcome" in t.reward_channels
    # each episode's steps count 0, 1, ...; an episode ends with done=True and a ±1 outcome
    by_ep: dict = {}
    for t in turns:
        by_ep.setdefault(t.episode, []).append(t)
    for ts in by_ep.values():
        assert [t.step for t in ts] == list(range(len(ts)))
        assert all(not t.done for t in ts[:-1])
    finished = [ts[-1] for ts in by_ep.values() if ts[-1].done]
    assert finished and all(t.reward in (-1.0, 1.0) for t in finished)
    assert turns[0].to_json()["next_state"]["kind"] == "tool"
