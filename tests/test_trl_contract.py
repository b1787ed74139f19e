"""Contract tests of ClawTrainer against TRL's own semantics: they fail if TRL changes under us.

ClawTrainer relies on GRPOTrainer internals (it patches ``model.forward`` in ``__init__``; its private
``_generate_and_score_completions`` / ``_compute_loss`` / ``_get_per_token_logps_and_entropies``). These tests
check the consequences, not our assumptions: a reference that really stays frozen, a KL that is positive with a
gradient, ρ = 1 against TRL's own re-scoring, a teacher that differs only by the hint, and one loss for one batch
through the sync (TRL) and async drivers.
"""

import inspect
import re
from importlib.metadata import version
from pathlib import Path

import pytest
import torch

pytest.importorskip("trl", reason="the [train] extra is not installed")

from claw_envs.vector import ClawVectorEnv  # noqa: E402
from claw_trainer import core  # noqa: E402
from claw_trainer.buffer import RolloutBuffer  # noqa: E402
from claw_trainer.config import MethodConfig, RunConfig, TrainConfig  # noqa: E402
from claw_trainer.learner import Learner  # noqa: E402
from claw_trainer.source import EnvRollouts  # noqa: E402
from claw_trainer.toy import DigitsEnv  # noqa: E402
from claw_trainer.trainer import ClawTrainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _model(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from claw_trainer.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "m", seed=0)


def _trainer(tmp_path, path, steps=1, lr=1e-2, hint=None, **method):
    from claw_trainer.run import grpo_args

    model, tok = _model(path)
    cfg = RunConfig()
    cfg.train.steps, cfg.train.batch_size, cfg.train.micro_batch_size = steps, 8, 4
    cfg.train.lr, cfg.train.max_new_tokens, cfg.train.report_to, cfg.train.save_every = lr, 8, [], 100
    for k, v in method.items():
        setattr(cfg.method, k, v)
    vec = ClawVectorEnv([lambda: DigitsEnv(hint=hint) for _ in range(8)])
    rollouts = EnvRollouts(vec, tok, cfg.method.loss, group_size=8, group_norm=False, max_new_tokens=8, seed=0)
    return ClawTrainer(model, tok, grpo_args(cfg, tmp_path / "out"), cfg.method, rollouts, RolloutBuffer(),
                       max_rounds=2)


def _fixed_batch(tok):
    prompts = [tok("Reply with digits only.")["input_ids"], tok("Hello there")["input_ids"]]
    comps = [tok(" 12 34")["input_ids"], tok(" ab cd ef")["input_ids"]]
    return prompts, comps


def test_tested_trl_version_is_pinned():
    """The trainer uses TRL internals: pyproject pins the minor versions these tests were run against."""
    spec = re.search(r'"trl([^"]*)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert "<" in spec, f"pyproject must bound trl from above (got {spec!r})"
    from packaging.specifiers import SpecifierSet

    assert version("trl") in SpecifierSet(spec), (version("trl"), spec)
    from trl import GRPOTrainer

    for name, params in [("_generate_and_score_completions", ["self", "inputs"]),
                         ("_compute_loss", ["self", "model", "inputs"])]:
        assert list(inspect.signature(getattr(GRPOTrainer, name)).parameters) == params, name
    p = list(inspect.signature(GRPOTrainer._get_per_token_logps_and_entropies).parameters)
    assert p[:5] == ["self", "model", "input_ids", "attention_mask", "logits_to_keep"], p
    # ClawTrainer marks a generation batch trained once TRL's micro-step counter has used it up
    assert "self._step += 1" in inspect.getsource(GRPOTrainer.training_step)


def test_reference_stays_frozen_while_the_policy_moves(tmp_path, tiny):
    tr = _trainer(tmp_path, tiny, steps=1, beta=0.1)
    policy = tr._policy_model()
    assert "forward" not in vars(tr.frozen_model), "the reference must run its own weights, not a patched forward"
    if "forward" in vars(policy):  # TRL patched the policy's forward: a copy taken now would be the live policy
        with pytest.raises(RuntimeError, match="patched"):
            core.frozen_copy(policy)
    prompts, comps = _fixed_batch(tr._tokenizer)
    pad = tr._tokenizer.pad_token_id
    ref_before = core.completion_logprobs(tr.frozen_model, prompts, comps, pad)["logp"]
    pol_before = core.completion_logprobs(policy, prompts, comps, pad)["logp"]
    assert torch.allclose(ref_before, pol_before, atol=1e-5)  # the reference starts as the initial policy
    tr.train()
    tr.rollouts.vec_env.close()
    ref_after = core.completion_logprobs(tr.frozen_model, prompts, comps, pad)["logp"]
    pol_after = core.completion_logprobs(tr._policy_model(), prompts, comps, pad)["logp"]
    assert torch.equal(ref_after, ref_before), "the reference moved"
    assert (pol_after - pol_before).abs().max() > 1e-3, "the policy did not move"


def test_kl_is_positive_after_the_first_step_and_has_a_gradient(tmp_path, tiny):
    tr = _trainer(tmp_path, tiny, steps=2, beta=0.1, lr=1e-2)
    tr.train()
    kls = [h["kl"] for h in tr.state.log_history if "kl" in h]
    assert len(kls) == 2 and kls[0] == pytest.approx(0.0, abs=1e-6) and kls[1] > 1e-6, kls
    # each step marked the real samples it trained on in the store (masked filler rows are not samples)
    filler = sum(h["filler"] for h in tr.state.log_history if "filler" in h)
    trained = tr.buffer.store.rows(("trained",))
    assert len(trained) == 16 - filler and {r["step"] for r in trained} <= {1, 2}
    # the KL term alone (advantages zeroed) has a non-zero gradient w.r.t. the policy's weights
    inputs = tr._generate_and_score_completions([{}] * 8)
    tr.rollouts.vec_env.close()
    inputs["advantages"] = torch.zeros_like(inputs["advantages"])
    model = tr.model
    model.zero_grad()
    tr.current_gradient_accumulation_steps = 1
    loss = tr._compute_loss(model, core.micro_slice(inputs, 0, 4))
    loss.backward()
    grad = sum(p.grad.abs().sum().item() for p in model.parameters() if p.grad is not None)
    assert loss.item() > 0 and grad > 0


@pytest.mark.parametrize("tis", ["on", "off"])
def test_ratio_is_one_on_the_first_micro_batch_against_trls_rescoring(tmp_path, tiny, tis):
    """π_old — recomputed by the core (tis on) or the sampler's own log-probs (tis off) — equals TRL's re-scoring
    of the same tokens at the start of a step: ρ = 1, nothing clipped."""
    tr = _trainer(tmp_path, tiny, tis=tis)
    inputs = tr._generate_and_score_completions([{}] * 8)
    tr.rollouts.vec_env.close()
    assert ("old_per_token_logps" in inputs) == (tis == "on")
    tr.current_gradient_accumulation_steps = 1
    tr._compute_loss(tr.model, core.micro_slice(inputs, 0, 4))
    m = tr._metrics["train"]
    assert m["ratio_mean"][-1] == pytest.approx(1.0, abs=1e-4 if tis == "on" else 2e-3)
    assert m["clip_frac"][-1] == 0.0


def test_teacher_differs_from_the_student_only_through_the_hint_tokens(tmp_path, tiny):
    hint = "use digits"
    tr = _trainer(tmp_path, tiny, hint=hint, loss="opd")
    tr._generate_and_score_completions([{}] * 8)
    tr.rollouts.vec_env.close()
    tok = tr._tokenizer
    pad = tok.pad_token_id
    for s in tr._last_sampled:
        t = s.turn
        student = list(t.prompt_ids)
        teacher = core.rendered_prompt_ids(tok, t, t.hint)
        assert core.rendered_prompt_ids(tok, t) == student  # our template reproduces the sampled prompt
        pre = next(i for i, (a, b) in enumerate(zip(student, teacher, strict=False)) if a != b)
        suf = len(student) - pre
        assert teacher[:pre] == student[:pre] and teacher[len(teacher) - suf:] == student[pre:]
        assert tok.decode(teacher[pre:len(teacher) - suf]) == core.HINT_HEADER + hint
        # with the hint tokens removed, the teacher (frozen initial policy) scores exactly what the sampler did
        ref = core.completion_logprobs(tr.frozen_model, [student], [list(t.completion_ids)], pad)["logp"][0]
        assert ref[:len(t.logprobs)].tolist() == pytest.approx(list(t.logprobs), abs=2e-3)


def test_the_same_batch_gives_the_same_loss_through_both_drivers(tmp_path, tiny):
    method = dict(loss="combine", beta=0.1, tis="on", w_opd=0.5)
    tr = _trainer(tmp_path, tiny, hint="digits please", lr=1e-3, **method)
    inputs = tr._generate_and_score_completions([{}] * 8)
    tr.rollouts.vec_env.close()
    samples = tr._last_sampled
    tr.current_gradient_accumulation_steps = 2
    sync = sum(tr._compute_loss(tr.model, core.micro_slice(inputs, s, s + 4)).item() for s in (0, 4))
    model, tok = _model(tiny)
    learner = Learner(model, tok, MethodConfig(**method), train=TrainConfig(micro_batch_size=4, batch_size=8))
    a_inputs, _ = learner.prepare(samples)
    for key in ("advantages", "old_per_token_logps", "ref_per_token_logps", "loss_mask"):
        assert torch.allclose(a_inputs[key], inputs[key], atol=1e-5), key
    learner.model.train()
    async_loss = sum(learner.loss(a_inputs, s, s + 4)[0].item() for s in (0, 4)) / 2
    assert async_loss == pytest.approx(sync, abs=1e-5)
