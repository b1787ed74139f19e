"""The learner of the asynchronous loops: the async driver of :mod:`claw_trainer.core`.

One optimizer step per batch of judged turns, checkpointed atomically. The formulas are the core's — the same
functions ``ClawTrainer`` calls — so a batch gives the same loss through either driver (tested). What differs
is only where samples come from (the durable turn store, possibly sampled by an older published version):

* staleness: samples older than ``max_staleness`` versions are dropped or down-weighted by ``stale_weight``
  (``stale: drop | downweight``); with ``method.tis: auto`` a batch holding a stale sample recomputes π_old
  with the current weights and applies TIS against the sampler's log-probs;
* micro-batching (``train.micro_batch_size``, gradient accumulation over the batch), gradient clipping
  (``train.max_grad_norm``), the LR schedule (``train.lr_scheduler``/``warmup_steps`` over ``train.steps``),
  ``train.max_prompt_tokens`` (longer turns are dropped), LoRA (``model.lora_r``; the reference is then the
  base model with the adapter disabled), gradient checkpointing and ``train.seed``.

Keys the async path cannot honour are rejected by name (:func:`check_async_config`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from claw_envs.core.errors import ConfigError
from claw_trainer import core
from claw_trainer.config import MethodConfig, RunConfig, TrainConfig
from claw_trainer.credit import TrainSample
from claw_trainer.guard import Guard


def check_async_config(cfg: RunConfig) -> None:
    """Raise ConfigError naming every key the async loops cannot honour (``train.max_rounds``, which only
    shapes synchronous collection, is ignored with a warning)."""
    bad = []
    if cfg.method.loss == "step_wise":
        bad.append("method.loss=step_wise (needs whole episodes grouped by step; the async store holds turns)")
    if cfg.train.vllm != "off":
        bad.append(f"train.vllm={cfg.train.vllm} (the async loops serve with their own published policy)")
    if cfg.train.dtype not in ("auto", "float32"):
        bad.append(f"train.dtype={cfg.train.dtype} (the async learner trains in float32 on this path)")
    if cfg.train.max_rounds != TrainConfig().max_rounds:  # meaningless here, harmless: say so, don't refuse
        logging.getLogger(__name__).warning("train.max_rounds=%s is a sync-collection setting; the async producer "
                                            "runs continuously and ignores it", cfg.train.max_rounds)
    if bad:
        raise ConfigError("claw train --async cannot honour: " + "; ".join(bad))


class Learner:
    """Async driver: ``train_step(samples, weights)`` = core.prepare_batch + core.policy_loss per micro-batch."""

    def __init__(self, model: Any, tokenizer: Any, method: MethodConfig, lr: float = 1e-5, temperature: float = 1.0,
                 max_staleness: int = 4, stale: str = "drop", stale_weight: float = 0.5,
                 train: TrainConfig | None = None, peft_config: Any = None):
        if stale not in ("drop", "downweight"):
            raise ValueError(f"stale must be 'drop' or 'downweight', got {stale!r}")
        train = train or TrainConfig(lr=lr, temperature=temperature, batch_size=1, micro_batch_size=1)
        self.train_cfg, self.method, self.tokenizer = train, method, tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        torch.manual_seed(train.seed)
        # the reference: a frozen copy of the initial weights, or (LoRA) the base with the adapter disabled
        reference = core.frozen_copy(model) if core.needs_reference(method) and peft_config is None else None
        if peft_config is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config)
        if train.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        self.model = model
        self.models = core.Models(model, tokenizer, reference)
        self.temperature = temperature or train.temperature or 1.0
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=train.weight_decay)
        from transformers import get_scheduler

        self.scheduler = get_scheduler(train.lr_scheduler, self.optimizer,
                                       num_warmup_steps=train.warmup_steps,
                                       num_training_steps=max(train.steps, 1))
        self.max_staleness, self.stale, self.stale_weight = max_staleness, stale, stale_weight
        self.step = 0
        self.rebased_onto = (0, 0)  # (served version, step) of the last rebase(); see split_stale
        self.token_log: Any = None  # a TokenLog: per-token advantages for `claw view`
        self.guard = Guard(method)  # method.guard: collapse check on each step's diagnostics

    @classmethod
    def from_config(cls, model: Any, tokenizer: Any, cfg: RunConfig, max_staleness: int = 4,
                    stale: str = "drop", stale_weight: float = 0.5) -> Learner:
        """A learner honouring every ``method.*`` / ``train.*`` / ``model.lora_*`` key of ``cfg`` (or rejecting it)."""
        check_async_config(cfg)
        peft_config = None
        if cfg.model.lora_r > 0:
            from peft import LoraConfig

            peft_config = LoraConfig(r=cfg.model.lora_r, lora_alpha=cfg.model.lora_alpha, task_type="CAUSAL_LM",
                                     target_modules=cfg.model.lora_target_modules)
        from claw_trainer.view.tokens import DEFAULT_NAME, TokenLog

        learner = cls(model, tokenizer, cfg.method, cfg.train.lr, cfg.train.temperature or 1.0, max_staleness, stale,
                      stale_weight, train=cfg.train, peft_config=peft_config)
        learner.token_log = TokenLog(Path(cfg.train.output_dir) / DEFAULT_NAME)
        return learner

    def split_stale(self, samples: list[TrainSample]) -> tuple[list[TrainSample], list[TrainSample], list[float]]:
        """(usable samples, dropped samples, per-sample weight) at the current step.

        Dropped: too stale (with ``stale: drop``) or a prompt longer than ``train.max_prompt_tokens``.
        """
        keep, dropped, weights = [], [], []
        limit = self.train_cfg.max_prompt_tokens
        for s in samples:
            v, at = self.rebased_onto  # versions after the rebase step descend from it; older ones via v
            p = s.turn.policy_version
            age = self.step - p if p > at else self.step - at + abs(v - p)
            if limit and len(s.turn.prompt_ids) > limit:
                dropped.append(s)
            elif age <= self.max_staleness:
                keep.append(s)
                weights.append(1.0)
            elif self.stale == "downweight":
                keep.append(s)
                weights.append(self.stale_weight)
            else:
                dropped.append(s)
        return keep, dropped, weights

    def prepare(self, samples: list[TrainSample], weights: list[float] | None = None) -> tuple[dict, dict]:
        """The core's batch tensors (π_old, reference, teacher, advantages), stale weights applied."""
        self.model.eval()
        inputs, metrics = core.prepare_batch(samples, self.models, self.method, self.temperature, version=self.step,
                                             token_log=self.token_log)
        if weights is not None:
            inputs["advantages"] = inputs["advantages"] * torch.tensor(weights, device=inputs["advantages"].device)[:, None]
        return inputs, metrics

    def loss(self, inputs: dict[str, Any], start: int, end: int) -> tuple[torch.Tensor, dict[str, float]]:
        """The core's loss on rows ``start:end`` with the policy's log-probs (with grad)."""
        mb = core.micro_slice(inputs, start, end)
        keep = mb["completion_ids"].shape[1]
        prompts = [[t for t, m in zip(r.tolist(), k.tolist(), strict=True) if m]
                   for r, k in zip(mb["prompt_ids"], mb["prompt_mask"], strict=True)]
        comps = [[t for t, m in zip(r.tolist(), k.tolist(), strict=True) if m]
                 for r, k in zip(mb["completion_ids"], mb["completion_mask"], strict=True)]
        pad = self.tokenizer.pad_token_id
        if self.method.loss == "topk_opd":
            lp = core.completion_logprobs(self.model, prompts, comps, pad, self.temperature,
                                          gather_ids=mb["teacher_topk_ids"], grad=True, width=keep)
            loss, stats = core.policy_loss(self.method, mb, student_topk=lp["gathered"][:, :keep])
        else:
            lp = core.completion_logprobs(self.model, prompts, comps, pad, self.temperature, grad=True, width=keep)
            loss, stats = core.policy_loss(self.method, mb, logp=lp["logp"][:, :keep])
        return core.with_echo(self.model, self.method, mb, loss, stats, pad)  # method.echo_coef (0: loss as is)

    def train_step(self, samples: list[TrainSample], weights: list[float] | None = None) -> dict[str, float]:
        inputs, metrics = self.prepare(samples, weights)
        metrics.update(self.guard.observe(metrics))
        self.model.train()
        n, mb = len(samples), max(1, min(self.train_cfg.micro_batch_size, len(samples)))
        chunks = [(s, min(s + mb, n)) for s in range(0, n, mb)]
        total, stats_sum = 0.0, {}
        self.optimizer.zero_grad()
        for s, e in chunks:
            loss, stats = self.loss(inputs, s, e)
            (loss / len(chunks)).backward()
            total += loss.item() / len(chunks)
            for k, v in stats.items():
                stats_sum[k] = stats_sum.get(k, 0.0) + v / len(chunks)
        if self.train_cfg.max_grad_norm:
            norm = torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad],
                                                  self.train_cfg.max_grad_norm)
            stats_sum["grad_norm"] = float(norm)
        self.optimizer.step()
        self.scheduler.step()
        self.model.eval()
        self.step += 1
        return {"loss": total, "step": self.step, "samples": len(samples), "lr": self.scheduler.get_last_lr()[0],
                **metrics, **stats_sum}

    def rebase(self, state_dict: dict[str, torch.Tensor], version: int) -> None:
        """Continue from the served ``version``'s weights (the publish gate calls this after a rejection or a
        rollback, so the learner never trains on from weights that are not served).

        The weights become ``state_dict`` (full weights, as :meth:`state_dict` gives), the optimizer's moments
        are cleared, the step counter and LR schedule go on (version numbers stay unique). Staleness is then
        counted along the new lineage (:meth:`split_stale`): a turn of ``version`` is as old as the steps taken
        since, a turn of another version ``p`` older by ``|version − p|`` more.

        LoRA: the frozen base stays as it is and the adapter is solved for. Each adapted weight's served delta
        ``W − W_base`` has rank ≤ r when it came from this adapter, so its SVD ``U S Vᵀ`` gives it exactly:
        ``B = U_r √(S_r/s)``, ``A = √(S_r/s) V_rᵀ`` with the adapter's scaling ``s`` (``B A s = W − W_base``;
        rows of A for (near-)zero singular values are kept, so the adapter never loses its gradient).
        Served weights that differ from the base outside the adapters, or whose delta needs more than rank r
        (relative residual > 1e-3), cannot be reached by this learner: ``ConfigError``.
        """
        with torch.no_grad():
            if hasattr(self.model, "peft_config"):
                from peft.tuners.lora import LoraLayer

                base = self.model.get_base_model()
                adapted = {f"{n}.weight": m for n, m in base.named_modules() if isinstance(m, LoraLayer)}
                for k, v in base.state_dict().items():
                    k = k.replace("base_layer.", "")
                    if "lora_" not in k and k not in adapted and not torch.equal(v, state_dict[k].to(v.dtype)):
                        raise ConfigError(f"cannot re-base the LoRA learner: served weight {k} differs from the "
                                          "frozen base outside the adapters")
                for key, m in adapted.items():
                    (name,) = m.active_adapters
                    delta = state_dict[key].float() - m.base_layer.weight.float()
                    delta = delta.T if getattr(m, "fan_in_fan_out", False) else delta
                    u, s, vh = torch.linalg.svd(delta, full_matrices=False)
                    r, scale = m.r[name], m.scaling[name]
                    if float(s[r:].norm()) > 1e-3 * max(float(s.norm()), 1e-12):
                        raise ConfigError(f"cannot re-base the LoRA learner: served {key} is not within rank {r} "
                                          "of the frozen base (was it trained by another adapter?)")
                    live = s[:r] > 1e-4 * float(s[0])  # the others: keep A's row, zero B's column, so the
                    root = torch.where(live, (s[:r] / scale).sqrt(), 0.0)  # adapter keeps its gradient
                    a = m.lora_A[name].weight
                    a.copy_(torch.where(live[:, None], root[:, None] * vh[:r], a.float()))
                    m.lora_B[name].weight.copy_(u[:, :r] * root)
            else:
                self.model.load_state_dict(state_dict)
        self.optimizer.state.clear()
        self.model.eval()
        self.rebased_onto = (int(version), self.step)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Full (merged, for LoRA) weights to publish to a served copy of the base model."""
        if hasattr(self.model, "merge_and_unload"):
            return merged_lora_state(self.model)
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def save(self, path: str | Path, batch_ids: list[int]) -> None:
        """Atomic, durable checkpoint: weights, optimizer, scheduler, step and the turn ids of the step's batch.

        Written to a temporary file, fsynced, renamed over ``path``, and the folder fsynced: after a crash or a
        power cut the file is the old checkpoint or the new one, never a torn one."""
        path = Path(path)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                        "scheduler": self.scheduler.state_dict(), "step": self.step, "batch_ids": list(batch_ids)}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def load(self, path: str | Path) -> list[int]:
        """Restore a checkpoint (tensors and plain values only: ``weights_only=True`` runs no pickled code);
        returns the batch ids of its last step."""
        state = torch.load(path, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])
        self.step = state["step"]
        return list(state["batch_ids"])



def merged_lora_state(model: Any) -> dict[str, torch.Tensor]:
    """The full weights of a PEFT LoRA model — base + each active adapter's delta — built in new tensors.

    Nothing is merged in place: an in-place ``merge_adapter``/``unmerge_adapter`` round trip adds and subtracts
    the delta in floating point and moves the frozen base a little on every publish (0.19 % after 20). Here the
    base is only read, so it stays bit-identical however often the learner publishes.
    """
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model()
    with torch.no_grad():
        out = {k.replace("base_layer.", ""): v.detach().clone() for k, v in base.state_dict().items()
               if "lora_" not in k}
        for name, module in base.named_modules():
            if not isinstance(module, LoraLayer) or getattr(module, "merged", False) or module.disable_adapters:
                continue
            key = f"{name}.weight"
            for adapter in module.active_adapters:
                if adapter in module.lora_A and key in out:
                    out[key] = out[key] + module.get_delta_weight(adapter).to(out[key].dtype)
    return out
