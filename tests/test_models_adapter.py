"""A LoRA run's ``final/`` (an adapter, no config.json) loads wherever a model spec is taken (``claw eval
--model runs/X/final``, judges, users): onto its base model, merged, giving the trained model's outputs."""

import json

import pytest
import torch

from claw_envs.core.errors import ConfigError
from claw_envs.models import load_model


def test_a_lora_adapter_directory_loads_merged_onto_its_base(tmp_path):
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.tiny import build_tiny_model

    base_dir = build_tiny_model(tmp_path / "tiny")
    torch.manual_seed(0)
    cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                          task_type="CAUSAL_LM")
    trained = peft.get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir), cfg).eval()
    final = tmp_path / "run" / "final"
    trained.save_pretrained(final)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(final)
    assert not (final / "config.json").exists()

    model, tok = load_model(str(final))
    ids = tok("hello there", return_tensors="pt").input_ids
    with torch.no_grad():
        want = trained(ids).logits
        got = model(ids).logits
        plain = AutoModelForCausalLM.from_pretrained(base_dir)(ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, plain, atol=1e-3)  # the adapter changed something, and it was applied


def test_an_adapter_without_a_usable_base_says_so(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tmp_path / "gone")}))
    with pytest.raises(ConfigError, match="LoRA adapter of"):
        load_model(str(tmp_path))
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(ConfigError, match="base_model_name_or_path"):
        load_model(str(tmp_path))
