"""OPD, second generation: choosing among several candidate hints by top-K overlap, and the per-token OPD clip."""

from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("transformers", reason="the [train] extra is not installed")

from claw_trainer import advantages as adv  # noqa: E402
from claw_trainer import core  # noqa: E402
from claw_trainer.config import ConfigError, MethodConfig, RunConfig  # noqa: E402
from claw_trainer.credit import TrainSample  # noqa: E402
from claw_trainer.rollout import Turn  # noqa: E402


def test_topk_overlap_counts_shared_tokens_per_position():
    t = torch.tensor([[[1, 2, 3, 4], [5, 6, 7, 8]]])
    s = torch.tensor([[[4, 3, 9, 9], [5, 6, 7, 8]]])
    assert core.topk_overlap(t, s, torch.tensor([[1, 1]])).tolist() == [pytest.approx(0.75)]
    assert core.topk_overlap(t, s, torch.tensor([[1, 0]])).tolist() == [pytest.approx(0.5)]  # masked positions skipped


def test_hint_candidates():
    assert core.hint_candidates(None) == [] and core.hint_candidates("") == []
    assert core.hint_candidates("a") == ["a"] and core.hint_candidates(["a", "", "b"]) == ["a", "b"]


class SwitchModel(torch.nn.Module):
    """Logits whose top-4 are tokens 10..13, or 20..23 when the marker token appears anywhere in the input."""

    def __init__(self, vocab: int, marker: int):
        super().__init__()
        self.marker, self.vocab = marker, vocab
        self.w = torch.nn.Parameter(torch.zeros(()))
        g = torch.Generator().manual_seed(0)
        self.plain, self.switched = torch.rand(vocab, generator=g), torch.rand(vocab, generator=g)
        self.plain[10:14] += 5.0
        self.switched[20:24] += 5.0

    def forward(self, input_ids, attention_mask=None):
        has = (input_ids == self.marker).any(-1)  # (B,)
        base = torch.where(has[:, None], self.switched, self.plain)  # (B, V)
        return SimpleNamespace(logits=base[:, None, :].expand(-1, input_ids.shape[1], -1) + self.w)


def _tiny_tok(tmp_path):
    from transformers import AutoTokenizer

    from claw_trainer.tiny import build_tiny_model

    return AutoTokenizer.from_pretrained(build_tiny_model(tmp_path / "tiny"))


def _turn(tok, hint):
    msgs = [{"role": "user", "content": "hello there"}]
    t = Turn((), (30, 31, 32), (-1.0, -1.0, -1.0), 0, "", "t", 0, 0, "", messages=msgs, hint=hint)
    return Turn(tuple(core.rendered_prompt_ids(tok, t)), (30, 31, 32), (-1.0, -1.0, -1.0), 0, "", "t", 0, 0, "",
                messages=msgs, hint=hint)


@pytest.mark.parametrize("select", ["first", "overlap"])
def test_overlap_selection_picks_the_hint_whose_teacher_agrees_with_the_student(tmp_path, select):
    tok = _tiny_tok(tmp_path)
    marker = tok("Q", add_special_tokens=False)["input_ids"][0]
    assert marker not in tok("hello there xyz", add_special_tokens=False)["input_ids"]
    model = SwitchModel(len(tok), marker)
    turns = [_turn(tok, ["Q Q Q", "xyz"]), _turn(tok, "xyz")]  # the second has a single hint: no choice to make
    samples = [TrainSample(t, 0.0, False, True) for t in turns]
    method = MethodConfig(loss="opd", teacher="policy", hint_select=select, hint_topk=4)
    inputs, metrics = core.prepare_batch(samples, core.Models(model, tok), method, 1.0, version=0)
    plain = core.completion_logprobs(model, [list(turns[0].prompt_ids)], [[30, 31, 32]], tok.pad_token_id)["logp"]
    hinted_xyz = core.completion_logprobs(model, [core.rendered_prompt_ids(tok, turns[0], "xyz")], [[30, 31, 32]],
                                          tok.pad_token_id)["logp"]
    assert torch.allclose(plain, hinted_xyz)  # 'xyz' leaves the teacher as the student: advantage 0
    opd_row = inputs["advantages"][0]
    if select == "overlap":
        assert metrics["hint_overlap"] == pytest.approx(1.0) and metrics["hint_choices"] == 1.0
        assert torch.allclose(opd_row, hinted_xyz[0] - torch.tensor([-1.0, -1.0, -1.0]))
    else:
        assert "hint_overlap" not in metrics
        hinted_q = core.completion_logprobs(model, [core.rendered_prompt_ids(tok, turns[0], "Q Q Q")], [[30, 31, 32]],
                                            tok.pad_token_id)["logp"]
        assert torch.allclose(opd_row, hinted_q[0] - torch.tensor([-1.0, -1.0, -1.0]))
    chosen, overlaps = core.select_hints(model, tok, turns, inputs.get("_", None), method, tok.pad_token_id)
    assert chosen == ["Q Q Q", "xyz"] and overlaps == []  # no student top-K: the first candidate


def test_select_hints_scores_every_candidate(tmp_path):
    tok = _tiny_tok(tmp_path)
    model = SwitchModel(len(tok), tok("Q", add_special_tokens=False)["input_ids"][0])
    turns = [_turn(tok, ["Q", "xyz", "Q Q"]), _turn(tok, ["abc", "Q"])]
    student = core.completion_logprobs(model, [list(t.prompt_ids) for t in turns], [[30, 31, 32]] * 2,
                                       tok.pad_token_id, topk=4)["topk_ids"]
    chosen, overlaps = core.select_hints(model, tok, turns, student, MethodConfig(hint_select="overlap"),
                                         tok.pad_token_id)
    assert chosen == ["xyz", "abc"] and overlaps == [pytest.approx(1.0)] * 2


def test_opd_clip_bounds_each_token_advantage():
    teacher = torch.tensor([[-0.1, -9.0, -1.0], [-5.0, -0.2, 0.0]])
    old = torch.tensor([[-4.0, -1.0, -1.5], [-0.1, -0.3, -1.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    raw = adv.opd(teacher, old, mask)
    clipped = adv.opd(teacher, old, mask, clip=1.0)
    assert raw.abs().max() > 1.0 and clipped.abs().max() <= 1.0
    assert torch.allclose(clipped, raw.clamp(-1, 1))
    assert torch.equal(adv.opd(teacher, old, mask, clip=0.0), raw)  # 0 = off
    a = adv.for_loss("combine", torch.tensor([0.5, -0.5]), torch.tensor([True, True]), torch.tensor([True, True]),
                     teacher, old, mask, w_rl=1.0, w_opd=2.0, opd_clip=1.5)
    opd_part = a - torch.tensor([0.5, -0.5])[:, None] * mask
    assert opd_part.abs().max() <= 2.0 * 1.5 + 1e-6
    assert torch.allclose(adv.for_loss("opd", torch.zeros(2), torch.zeros(2, dtype=torch.bool),
                                       torch.tensor([True, True]), teacher, old, mask, opd_clip=2.0),
                          raw.clamp(-2, 2))


def test_opd_clip_through_prepare_batch(tmp_path):
    tok = _tiny_tok(tmp_path)
    model = SwitchModel(len(tok), tok("Q", add_special_tokens=False)["input_ids"][0])
    samples = [TrainSample(_turn(tok, "Q Q"), 0.0, False, True)]
    for clip, bound in ((0.0, None), (0.5, 0.5)):
        inputs, metrics = core.prepare_batch(samples, core.Models(model, tok),
                                             MethodConfig(loss="opd", teacher="policy", opd_clip=clip), 1.0, 0)
        if bound is None:
            assert inputs["advantages"].abs().max() > 0.5
        else:
            assert inputs["advantages"].abs().max() <= bound + 1e-6
            assert metrics["opd_adv_mean"] == pytest.approx(float(inputs["advantages"][0].mean()), abs=1e-5)


def test_method_keys_are_validated():
    for bad in ({"hint_select": "best"}, {"hint_topk": 0}, {"opd_clip": -1.0}, {"guard": "maybe"},
                {"guard_window": 1}, {"echo_coef": -0.1}):
        cfg = RunConfig()
        for k, v in bad.items():
            setattr(cfg.method, k, v)
        with pytest.raises(ConfigError, match="method."):
            cfg.validate()
