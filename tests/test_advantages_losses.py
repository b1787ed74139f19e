"""Every advantage and loss formula against values computed by hand."""

import math

import pytest
import torch

from claw_trainer.advantages import binary_rl, combine, grpo_normalize, opd, step_wise
from claw_trainer.losses import clipped_surrogate, k3_kl, masked_mean, tis_weights, topk_reverse_kl


def test_grpo_normalize_by_group():
    r = torch.tensor([1.0, -1.0, 1.0, 0.5])
    a = grpo_normalize(r, ["g", "g", "h", "k"])
    # group g: mean 0, population std 1 -> (1, -1); h, k: single members -> 0
    assert torch.allclose(a, torch.tensor([1 / (1 + 1e-6), -1 / (1 + 1e-6), 0.0, 0.0]))
    assert torch.equal(binary_rl(r), r)  # personal mode: the reward itself


def test_step_wise_buckets():
    scores = torch.tensor([1.0, -1.0, 1.0, 1.0, 0.0])
    outcomes = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0])
    adv, keep = step_wise(scores, outcomes, ["a", "a", "a", "a", "b"], [0, 0, 1, 1, 0])
    # bucket (a,0): rewards 2, 0 -> z = +1, -1; bucket (a,1): 1, 1 constant -> dropped; (b,0) single -> raw 1
    assert torch.allclose(adv[:2], torch.tensor([1.0, -1.0]), atol=1e-5) and adv[4] == 1.0
    assert keep.tolist() == [True, True, False, False, True]
    adv, keep = step_wise(torch.tensor([1.0, 1.0]), torch.zeros(2), ["a", "a"], [0, 0])
    assert keep.tolist() == [True, False] and adv[0] == 1.0  # everything constant: keep one


def test_opd_aligns_token_by_token_and_masks():
    t = torch.tensor([[-0.5, -1.0, -2.0]])
    o = torch.tensor([[-1.0, -1.0, -0.5]])
    m = torch.tensor([[1.0, 1.0, 0.0]])
    assert torch.allclose(opd(t, o, m), torch.tensor([[0.5, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="align"):
        opd(t[:, :2], o, m)


def test_combine_keeps_only_present_terms_exactly():
    a_rl = torch.tensor([1.0, -1.0, 0.5, 2.0])
    has_score = torch.tensor([True, True, False, False])
    has_hint = torch.tensor([True, False, True, False])
    t = torch.full((4, 2), -1.0)
    o = torch.full((4, 2), -1.5)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    adv, keep = combine(a_rl, has_score, t, o, has_hint, mask, w_rl=1.0, w_opd=2.0)
    assert keep.tolist() == [True, True, True, False]
    assert adv[0].tolist() == [2.0, 2.0]        # 1.0 (rl) + 2.0 * 0.5 (opd)
    assert adv[1].tolist() == [-1.0, 0.0]       # rl only; masked token is 0
    assert adv[2].tolist() == [1.0, 1.0]        # opd only: the rl term is exactly zero
    assert adv[3].tolist() == [0.0, 0.0]        # dropped


def test_clipped_surrogate_asymmetric_clip_and_mask():
    logp_old = torch.zeros(1, 4)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.1, 3.0]]))  # ratios 1.5, 0.5, 1.1, 3.0
    adv = torch.tensor([[1.0, -1.0, -1.0, 1.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    loss, stats = clipped_surrogate(logp, logp_old, adv, mask)
    # t0: A>0, min(1.5, clip->1.28) = 1.28; t1: A<0, min(-0.5, -0.8) = -0.8; t2: min(-1.1, -1.1) = -1.1
    expected = -(1.28 - 0.8 - 1.1) / 3
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert stats["clip_frac"] == pytest.approx(2 / 3)
    loss_turn, _ = clipped_surrogate(logp, logp_old, torch.tensor([1.0]), mask)  # per-turn advantage
    # A = +1 everywhere: min(1.5, 1.28) = 1.28; min(0.5, 0.8) = 0.5; min(1.1, 1.1) = 1.1
    assert loss_turn.item() == pytest.approx(-(1.28 + 0.5 + 1.1) / 3, abs=1e-6)


def test_k3_kl_tis_and_kl_term():
    logp, ref = torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])
    d = math.log(0.25) - math.log(0.5)
    assert k3_kl(logp, ref).item() == pytest.approx(math.exp(d) - d - 1)
    assert k3_kl(ref, ref).item() == 0.0
    w = tis_weights(torch.log(torch.tensor([0.9, 0.3])), torch.log(torch.tensor([0.3, 0.9])), cap=2.0)
    assert torch.allclose(w, torch.tensor([2.0, 1 / 3]))  # 3.0 capped at 2
    lp = torch.zeros(1, 2)
    loss, stats = clipped_surrogate(lp, lp, torch.zeros(1, 2), torch.ones(1, 2), logp_ref=lp - 1.0, beta=0.5)
    assert loss.item() == pytest.approx(0.5 * (math.exp(-1) + 1 - 1)) and "kl" in stats
    assert masked_mean(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0])).item() == 0.0


def test_topk_reverse_kl_with_tail_bin():
    student = torch.log(torch.tensor([[[0.5, 0.3, 0.2]]]))  # logits = log probs
    t_ids = torch.tensor([[[0, 1]]])
    t_logp = torch.log(torch.tensor([[[0.25, 0.25]]]))  # teacher tail = 0.5
    s_top = student.log_softmax(-1).gather(-1, t_ids)  # the student's log-probs of the teacher's ids
    kl = topk_reverse_kl(s_top, t_logp, torch.ones(1, 1))
    expected = 0.5 * math.log(0.5 / 0.25) + 0.3 * math.log(0.3 / 0.25) + 0.2 * math.log(0.2 / 0.5)
    assert kl.item() == pytest.approx(expected, abs=1e-5)
    same = topk_reverse_kl(s_top, torch.log(torch.tensor([[[0.5, 0.3]]])), torch.ones(1, 1))
    assert same.item() == pytest.approx(0.0, abs=1e-6)
