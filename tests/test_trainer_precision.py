"""ClawTrainer picks a precision the machine supports instead of failing: fp32 without a GPU."""

import pytest

pytest.importorskip("trl", reason="the [train] extra is not installed")

import torch  # noqa: E402
from trl import GRPOConfig  # noqa: E402

from claw_envs.vector import ClawVectorEnv  # noqa: E402
from claw_trainer.config import MethodConfig  # noqa: E402
from claw_trainer.source import EnvRollouts  # noqa: E402
from claw_trainer.toy import DigitsEnv  # noqa: E402
from claw_trainer.trainer import ClawTrainer, precision_kwargs  # noqa: E402

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback; this machine has a GPU")


def _trainer(tmp_path, args):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "tiny")
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    vec = ClawVectorEnv([DigitsEnv for _ in range(4)])
    rollouts = EnvRollouts(vec, tok, "binary_rl", group_size=4, max_new_tokens=4, seed=0)
    return ClawTrainer(model, tok, args, MethodConfig(loss="binary_rl"), rollouts, max_rounds=1)


def test_bf16_config_without_a_gpu_trains_in_fp32(tmp_path, caplog):
    with pytest.raises(ValueError, match="bf16"):  # what a newcomer hits with TRL's defaults on a CPU
        GRPOConfig(output_dir=str(tmp_path / "x"))
    args = GRPOConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=True, max_steps=1, report_to=[],
                      per_device_train_batch_size=4, num_generations=4, save_strategy="no", learning_rate=1e-3)
    with caplog.at_level("WARNING", logger="claw_trainer.trainer"):
        tr = _trainer(tmp_path, args)
    assert "fp32" in caplog.text
    assert (tr.args.bf16, tr.args.mixed_precision, tr.accelerator.mixed_precision) == (False, "no", "no")
    tr.train()
    assert tr.state.global_step == 1
    tr.rollouts.vec_env.close()


def test_dict_args_get_the_machines_precision(tmp_path):
    assert precision_kwargs(max_steps=3) == {"use_cpu": True, "bf16": False, "fp16": False, "max_steps": 3}
    tr = _trainer(tmp_path, {"output_dir": str(tmp_path / "out"), "max_steps": 1, "report_to": [],
                             "per_device_train_batch_size": 4, "num_generations": 4, "save_strategy": "no"})
    assert isinstance(tr.args, GRPOConfig) and not tr.args.bf16 and tr.args.use_cpu
    tr.rollouts.vec_env.close()
