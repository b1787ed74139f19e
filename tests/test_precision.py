"""Precision of the live learner: float32 weights whatever the checkpoint's dtype; LoRA publishes never move
the frozen base."""

import copy

import pytest
import torch

pytest.importorskip("peft", reason="the [train] extra is not installed")

from claw_trainer.config import load_config  # noqa: E402
from claw_trainer.credit import TrainSample  # noqa: E402
from claw_trainer.rollout import Turn  # noqa: E402


def _bf16_checkpoint(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.tiny import build_tiny_model

    src = build_tiny_model(tmp_path / "fp32")
    model = AutoModelForCausalLM.from_pretrained(src).to(torch.bfloat16)
    out = tmp_path / "bf16"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(src).save_pretrained(out)
    return out


def _samples(tok, n=4):
    prompt = tok.apply_chat_template([{"role": "user", "content": "what is 2+2?"}], tokenize=False,
                                     add_generation_prompt=True)
    p = tuple(tok(prompt, add_special_tokens=False)["input_ids"])
    c = tuple(tok(" 4, the answer is 4", add_special_tokens=False)["input_ids"])
    return [TrainSample(Turn(p, c, (-6.0,) * len(c), 0, "e", "t", i, 0, "a"), 1.0 if i % 2 else -1.0, True, False)
            for i in range(n)]


def test_a_bf16_checkpoint_trains_in_float32_by_default(tmp_path):
    from claw_trainer.models import load_model
    from claw_trainer.serving.stack import ServeStack

    path = _bf16_checkpoint(tmp_path)
    assert next(load_model(str(path))[0].parameters()).dtype == torch.bfloat16  # the checkpoint's own dtype
    cfg = load_config(None, ["--model.name", str(path), "--judge.backend", "rules", "--method.loss", "binary_rl",
                             "--train.batch_size", "4", "--train.lr", "1e-5", "--train.output_dir", str(tmp_path / "run")])
    stack = ServeStack(cfg, learn=True)
    try:
        learner = stack.loops.learner
        assert {p.dtype for p in learner.model.parameters()} == {torch.float32}
        before = {k: v.clone() for k, v in learner.model.state_dict().items()}
        learner.train_step(_samples(learner.tokenizer))
        moved = sum(int((v != before[k]).sum()) for k, v in learner.model.state_dict().items())
        total = sum(v.numel() for v in before.values())
        # a 1e-5 Adam step moves nearly every trained weight in float32 (in bf16 most would round back)
        assert moved > 0.5 * total
    finally:
        stack.stop()


def test_twenty_lora_publishes_leave_the_base_bit_identical(tmp_path):
    from claw_trainer.learner import Learner
    from claw_trainer.models import load_model

    cfg = load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"),
                             "--model.lora_r", "4", "--method.loss", "binary_rl", "--train.batch_size", "4",
                             "--train.micro_batch_size", "4", "--train.lr", "5e-2",
                             "--train.output_dir", str(tmp_path / "run")])
    model, tok = load_model("tiny", cache_dir=tmp_path / "cache")
    learner = Learner.from_config(model, tok, cfg)
    base = {k: v.clone() for k, v in learner.model.get_base_model().state_dict().items() if "lora_" not in k}
    samples = _samples(tok)
    for _ in range(20):
        learner.train_step(samples)
        published = learner.state_dict()
    now = learner.model.get_base_model().state_dict()
    assert all(torch.equal(now[k], v) for k, v in base.items())  # bit-identical, not merely close
    merged = copy.deepcopy(learner.model).merge_and_unload().state_dict()  # PEFT's own merge, on a copy
    assert set(published) == set(merged)
    assert all(torch.allclose(published[k], merged[k], atol=1e-6) for k in merged)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(published[q], base["model.layers.0.self_attn.q_proj.base_layer.weight"])  # adapter learned
