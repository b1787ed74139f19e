"""Load policy/judge models by spec, offline: a local path, ``smollm2`` (shipped in a PyPI wheel) or ``tiny``.

The loader itself lives in :mod:`claw_envs.models` (the envs' judges load models without the trainer); this
module adds ``tiny``, a random 2-layer model built offline (:mod:`claw_trainer.tiny`), for trying the pipeline.
Nothing is fetched from a hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claw_envs.models import DEFAULT_CACHE, SMOLLM2_GGUF, load_pretrained, smollm2_dir
from claw_envs.models import resolve_model as _resolve_env_model

__all__ = ["DEFAULT_CACHE", "SMOLLM2_GGUF", "load_for_training", "load_model", "resolve_model", "smollm2_dir"]


def resolve_model(spec: str, cache_dir: str | Path = DEFAULT_CACHE) -> Path:
    """A local directory with the model for ``spec``, converting/building it into ``cache_dir`` once."""
    if spec == "tiny":
        from claw_trainer.tiny import build_tiny_model

        return build_tiny_model(Path(cache_dir).expanduser() / "tiny")
    return _resolve_env_model(spec, cache_dir)


def load_model(spec: str, device: str = "cpu", dtype: Any = None,
               cache_dir: str | Path = DEFAULT_CACHE) -> tuple[Any, Any]:
    """(model, tokenizer) for ``spec``: ``smollm2``, ``tiny`` or a directory with ``config.json``. ``dtype`` None
    keeps the checkpoint's own dtype (fine for sampling and judging); training loads through
    :func:`load_for_training`."""
    return load_pretrained(resolve_model(spec, cache_dir), device=device, dtype=dtype)


def load_for_training(spec: str, train_dtype: str = "auto", cache_dir: str | Path = DEFAULT_CACHE,
                      device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer) with **float32 weights** whatever dtype the checkpoint was saved in (a bf16 checkpoint
    would otherwise train in bf16 and round its updates away). ``train.dtype`` picks the compute precision on
    top: ``auto``/``float32`` compute in float32; ``bfloat16``/``float16`` are mixed precision (autocast over the
    float32 master weights: the sync trainer applies it, the async learner refuses it)."""
    import torch

    from claw_envs.core.errors import ConfigError

    if train_dtype not in ("auto", "float32", "bfloat16", "float16"):
        raise ConfigError(f"train.dtype must be auto, float32, bfloat16 or float16; got {train_dtype!r}")
    return load_model(spec, device=device, dtype=torch.float32, cache_dir=cache_dir)
