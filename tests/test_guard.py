"""Diagnostics and the collapse guard (method.guard).

Per step the core logs policy entropy (from the chunked log-softmax), reply length, batch reward, P(EOS) at the
final position and its change from the reference, KL to the reference and to the hinted teacher on the sampled
tokens, and the OPD advantage's mean/std. The guard flags entropy ↑ and KL ↑ while reward ↓ over its window:
a collapse injected through the hints (a teacher pushed toward one token) is flagged within 5 steps.
"""

import logging
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("transformers", reason="the [train] extra is not installed")

from claw_envs.vector import ClawVectorEnv  # noqa: E402
from claw_trainer import core  # noqa: E402
from claw_trainer.config import MethodConfig, TrainConfig  # noqa: E402
from claw_trainer.credit import TrainSample  # noqa: E402
from claw_trainer.guard import Guard, GuardStop  # noqa: E402


def _metrics(ent, kl, rew):
    return {"entropy": ent, "kl_ref": kl, "batch_reward": rew}


def test_guard_flags_only_entropy_and_kl_up_with_reward_down(caplog):
    g = Guard(MethodConfig(guard="warn", guard_window=3))
    stable = [(2.0, 0.1, 0.5), (2.1, 0.12, 0.6), (1.9, 0.11, 0.55), (2.0, 0.2, 0.7), (2.2, 0.25, 0.8)]
    assert [g.observe(_metrics(*m))["guard_flag"] for m in stable] == [0.0] * 5  # reward rising: healthy
    g = Guard(MethodConfig(guard="warn", guard_window=3))
    collapse = [(2.0, 0.1, 0.5), (2.5, 0.3, 0.2), (3.1, 0.9, -0.3)]
    with caplog.at_level(logging.WARNING):
        flags = [g.observe(_metrics(*m))["guard_flag"] for m in collapse]
    assert flags == [0.0, 0.0, 1.0] and "collapse guard" in caplog.text
    assert Guard(MethodConfig(guard="off")).observe(_metrics(1, 1, 1)) == {}


def test_guard_reduce_lowers_w_opd_and_stop_raises():
    m = MethodConfig(guard="reduce", guard_window=2, guard_factor=0.5, w_opd=1.0)
    g = Guard(m)
    g.observe(_metrics(1.0, 0.1, 0.5))
    out = g.observe(_metrics(2.0, 0.5, 0.0))
    assert out == {"guard_flag": 1.0, "w_opd": 0.5} and m.w_opd == 0.5
    assert g.observe(_metrics(3.0, 0.9, -0.5))["guard_flag"] == 0.0  # a new window starts after a reduction
    g = Guard(MethodConfig(guard="stop", guard_window=2))
    g.observe(_metrics(1.0, 0.1, 0.5))
    with pytest.raises(GuardStop, match="entropy rose .* KL to the reference rose .* reward fell"):
        g.observe(_metrics(2.0, 0.5, 0.0))


def _tiny(tmp_path, seed=0):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "tiny", seed=seed)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def test_entropy_and_eos_diagnostics_match_a_full_softmax(tmp_path):
    model, tok = _tiny(tmp_path)
    prompts, comps = [[5, 6, 7], [8, 9]], [[10, 11, tok.eos_token_id], [12]]
    eos = torch.full((2, 3, 1), tok.eos_token_id)
    out = core.completion_logprobs(model, prompts, comps, tok.pad_token_id, 0.7, entropy=True, gather_ids=eos,
                                   chunk_tokens=2)
    for i, (p, c) in enumerate(zip(prompts, comps, strict=True)):
        with torch.no_grad():
            lg = model(input_ids=torch.tensor([p + c])).logits[0, len(p) - 1:len(p) - 1 + len(c)].float() / 0.7
        lp = lg.log_softmax(-1)
        assert torch.allclose(out["entropy"][i, :len(c)], -(lp.exp() * lp).sum(-1), atol=1e-5)
        assert torch.allclose(out["gathered"][i, :len(c), 0], lp[:, tok.eos_token_id], atol=1e-5)


def _sft_digits(model, tok, steps=25):
    """Make the tiny model a healthy digit writer (low entropy, high reward) before the collapse."""
    from claw_trainer.policy.hf import chat_prompt_ids
    from claw_trainer.toy import PROMPT

    p = chat_prompt_ids(tok, [{"role": "user", "content": PROMPT}])
    c = tok("1 2 3 4 5", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids = torch.tensor([p + c])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        logits = model(input_ids=ids).logits[0, len(p) - 1:-1]
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(c))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


class PushedTeacher(torch.nn.Module):
    """The frozen reference, except that when the hint's marker token is in context it puts almost all its mass
    on one token (``target``): a hint source that pushes toward one token (the injected collapse)."""

    def __init__(self, inner, marker, target):
        super().__init__()
        self.inner, self.marker, self.target = inner, marker, target

    def forward(self, input_ids, attention_mask=None):
        logits = self.inner(input_ids=input_ids, attention_mask=attention_mask).logits.clone()
        hinted = (input_ids == self.marker).any(-1)
        logits[hinted, :, self.target] += 40.0
        return SimpleNamespace(logits=logits)


@pytest.mark.parametrize("mode", ["stop", "reduce"])
def test_a_collapse_injected_through_the_hints_is_flagged_within_5_steps(tmp_path, mode):
    from claw_trainer.learner import Learner
    from claw_trainer.policy import HFPolicy
    from claw_trainer.rollout import collect_episodes
    from claw_trainer.toy import DigitsEnv

    model, tok = _tiny(tmp_path)
    _sft_digits(model, tok)
    marker = tok("Q", add_special_tokens=False)["input_ids"][0]
    target = tok("!", add_special_tokens=False)["input_ids"][0]
    method = MethodConfig(loss="opd", teacher="reference", guard=mode, guard_window=3, w_opd=1.0)
    train = TrainConfig(lr=1e-2, batch_size=8, micro_batch_size=8, max_grad_norm=0.0, steps=10)
    learner = Learner(model, tok, method, lr=1e-2, train=train)
    learner.models.reference = PushedTeacher(learner.models.reference, marker, target)
    policy = HFPolicy(model, tok, max_new_tokens=8)
    vec = ClawVectorEnv([lambda: DigitsEnv(hint="QQQ Q") for _ in range(8)])
    history, flagged_at = [], None
    for step in range(5):
        policy.version = learner.step
        turns = [t for ep in collect_episodes(vec, policy, seeds=[step] * 8) for t in ep]
        try:
            out = learner.train_step([TrainSample(t, 0.0, False, True) for t in turns])
        except GuardStop as e:
            assert mode == "stop" and "collapse guard" in str(e)
            flagged_at = step
            break
        history.append({k: out.get(k) for k in ("entropy", "kl_ref", "batch_reward", "opd_adv_mean", "w_opd")})
        if out.get("guard_flag"):
            flagged_at = step
            assert mode == "reduce" and out["w_opd"] == 0.5 and method.w_opd == 0.5
            break
    assert flagged_at is not None, history
    assert history and history[0]["opd_adv_mean"] < -1.0  # the hinted teacher disowns the digit replies


def test_batch_logprobs_in_row_groups_equals_one_forward(tmp_path, monkeypatch):
    """Long padded batches are scored a few rows at a time (no rows × L × L mask at once): same numbers."""
    model, tok = _tiny(tmp_path)
    prompts = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15]]
    comps = [[20, 21], [22, 23, 24, 25], [26]]
    eos = torch.full((3, 4, 1), 2, dtype=torch.long)
    whole = core.completion_logprobs(model, prompts, comps, 0, 0.7, gather_ids=eos, entropy=True, topk=3)
    monkeypatch.setattr(core, "MASK_BUDGET", 1)  # one row per forward
    rows = core.batch_logprobs(model, prompts, comps, 0, 0.7, gather_ids=eos, entropy=True, topk=3)
    assert rows.keys() == whole.keys()
    for k in whole:
        assert torch.allclose(rows[k].float(), whole[k].float(), atol=1e-5), k
