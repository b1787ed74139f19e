"""ClawTrainer: ``trl.GRPOTrainer`` fed by multi-turn env rollouts, with the Binary RL / OPD / combined losses.

What is reused from TRL: model/PEFT set-up, optimizer and scheduler, accelerate, gradient accumulation,
checkpoint saving and resuming, logging (TensorBoard, W&B, ... via ``report_to``), the per-token log-prob
forward of the policy. What changes (two overridden methods), both thin drivers of :mod:`claw_trainer.core`
(the same functions the async :class:`~claw_trainer.learner.Learner` uses):

* ``_generate_and_score_completions`` — instead of sampling completions for dataset prompts, take the next
  ``batch`` kept samples from the run's turn store (:class:`~claw_trainer.buffer.RolloutBuffer`; collecting new
  rounds of episodes until it holds enough; overflow stays queued for the next batch), then
  :func:`core.prepare_batch` (π_old, reference and hinted teacher log-probs, advantages). The dataset TRL
  iterates is only a list of slot indices.
* ``_compute_loss`` — :func:`core.policy_loss` on TRL's own per-token log-probs of the policy.

The frozen reference / OPD teacher is copied from the initial weights *before* ``GRPOTrainer.__init__`` runs:
TRL patches ``model.forward`` there, and a copy taken afterwards would still run the live policy. With LoRA
the reference is the base model with the adapter disabled. This relies on TRL's private methods
``_generate_and_score_completions``, ``_compute_loss`` and ``_get_per_token_logps_and_entropies`` (and on its
micro-step counter ``_step``): the tested TRL versions are pinned in pyproject.toml and
``tests/test_trl_contract.py`` fails if they change.
Once an optimizer step has used up a generation batch, its samples are marked ``trained`` with that step in
``turns.sqlite`` (before TRL saves a checkpoint of the step). A checkpoint also stores ``claw_state.json`` (its
step, its batch's row ids, rounds collected); resuming re-queues the rows trained after that step and
reconciles its batch (see :mod:`claw_trainer.buffer`), so no sample is lost or trained twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from claw_envs.core.errors import ConfigError
from claw_trainer import core
from claw_trainer.buffer import RolloutBuffer
from claw_trainer.config import MethodConfig
from claw_trainer.credit import TrainSample
from claw_trainer.guard import Guard
from claw_trainer.source import EnvRollouts

STATE_FILE = "claw_state.json"


def env_reward(completions: list, **_: Any) -> list[float]:
    """Placeholder reward source TRL requires; ClawTrainer scores turns from env rollouts and never calls it."""
    raise RuntimeError("ClawTrainer scores turns from the env's next states (claw_trainer.credit); "
                       "this reward function is never called")


def _has_gpu() -> bool:
    return torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())


def precision_kwargs(**overrides: Any) -> dict[str, Any]:
    """``GRPOConfig`` keyword arguments whose precision fits this machine: bf16 on a GPU that supports it, else
    fp32 (and ``use_cpu`` without a GPU, where ``GRPOConfig``'s bf16 default raises). ``overrides`` win."""
    gpu = _has_gpu()
    bf16 = gpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return {"use_cpu": not gpu, "bf16": bool(bf16), "fp16": False, **overrides}


def cpu_safe(args: GRPOConfig) -> GRPOConfig:
    """``args`` with mixed precision turned off when no GPU is present (a warning says so); unchanged otherwise."""
    if _has_gpu() or not (args.bf16 or args.fp16):
        return args
    import logging

    logging.getLogger(__name__).warning("no GPU: ClawTrainer trains in fp32 on the CPU (bf16=%s, fp16=%s were "
                                        "requested); pass bf16=False to silence this", args.bf16, args.fp16)
    args.bf16 = args.fp16 = False
    args.mixed_precision = "no"
    args.use_cpu = True
    return args


class _MarkTrained(TrainerCallback):
    """Marks the samples of a used-up generation batch trained at the end of the optimizer step that used them
    (before TRL's checkpoint of that step is saved)."""

    def __init__(self, trainer: ClawTrainer):
        self.trainer = trainer

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        t = self.trainer
        if t._step % (t.args.steps_per_generation * t.num_iterations) == 0:  # TRL's micro-step counter
            t.buffer.mark_trained(state.global_step)


class ClawTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose batches are kept env turns and whose loss is one of the claw loss modes.

    Args:
        model, processing_class, args, peft_config, callbacks: as for ``GRPOTrainer`` (``args.beta`` must be 0;
            the KL term is ``method.beta``). ``args`` may be a dict of ``GRPOConfig`` fields: its precision is
            then chosen for the machine (``precision_kwargs``); without a GPU, bf16/fp16 fall back to fp32.
        method: the loss mode and its coefficients.
        rollouts: the sample source (:class:`~claw_trainer.source.EnvRollouts`).
        buffer: the sample queue over the run's turn store (in memory when not given).
        max_rounds: collection rounds allowed per batch; if the buffer still lacks samples, the batch is filled
            with fully masked rows (no gradient, not counted) and ``filler`` is logged.
    """

    def __init__(self, model: Any, processing_class: Any, args: GRPOConfig | dict[str, Any], method: MethodConfig,
                 rollouts: EnvRollouts, buffer: RolloutBuffer | None = None, peft_config: Any = None,
                 callbacks: list | None = None, max_rounds: int = 4):
        if isinstance(args, dict):  # GRPOConfig's own bf16 default fails on a CPU: pick the precision here
            args = GRPOConfig(**precision_kwargs(**args))
        args = cpu_safe(args)
        if args.beta:
            raise ValueError("set the KL coefficient with method.beta; GRPOConfig.beta must be 0 for ClawTrainer")
        if isinstance(model, str | os.PathLike):
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(model)
        self.method, self.rollouts, self.max_rounds = method, rollouts, max_rounds
        self.buffer = buffer if buffer is not None else RolloutBuffer()
        callbacks = [*(callbacks or []), _MarkTrained(self)]
        # The reference is copied now, from the initial weights, before TRL patches model.forward.
        lora = peft_config is not None or hasattr(model, "disable_adapter")
        reference = core.frozen_copy(model) if core.needs_reference(method) and not lora else None
        generation_batch = args.per_device_train_batch_size * args.steps_per_generation
        slots = Dataset.from_dict({"prompt": [[{"role": "user", "content": str(i)}] for i in range(generation_batch)]})
        super().__init__(model=model, reward_funcs=[env_reward], args=args, train_dataset=slots,
                         processing_class=processing_class, peft_config=peft_config, callbacks=callbacks)
        self.frozen_model = reference.to(self.accelerator.device) if reference is not None else None
        self.guard = Guard(method)  # method.guard: collapse check on each step's diagnostics
        self._last_sampled: list[TrainSample] = []
        self._last_inputs: dict[str, Any] = {}
        self.token_log = None  # per-token advantages for `claw view` (main process only)
        if args.output_dir and self.accelerator.is_main_process:
            from claw_trainer.view.tokens import DEFAULT_NAME, TokenLog

            self.token_log = TokenLog(Path(args.output_dir) / DEFAULT_NAME)
        if self.use_vllm and rollouts.policy is None:  # sample with TRL's vLLM engine (GPU), weights synced per step
            from claw_trainer.policy.vllm import VLLMPolicy

            rollouts.policy = VLLMPolicy(self)

    # -- helpers ---------------------------------------------------------------------------------------
    def _policy_model(self) -> Any:
        return self.accelerator.unwrap_model(self.model)

    def models(self) -> core.Models:
        """The policy and the frozen reference (None with LoRA: the adapter is disabled instead)."""
        return core.Models(self._policy_model(), self._tokenizer, self.frozen_model)

    def _fill(self, n: int) -> dict[str, float]:
        rounds = []
        while len(self.buffer) < n and len(rounds) < self.max_rounds:
            model = self._policy_model()
            was_training = model.training
            model.eval()
            samples, metrics = self.rollouts.round(model, version=self.state.global_step)
            model.train(was_training)
            self.buffer.add(samples, f"round-{self.rollouts.rounds - 1}",
                            {"rounds": self.rollouts.rounds, "episodes": self.rollouts.episodes})
            rounds.append(metrics)
        return EnvRollouts.merge(rounds) if rounds else {}

    # -- generation: take kept samples from the buffer ---------------------------------------------------
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(inputs)
        metrics = self._fill(n)
        batch = self.buffer.take(n)
        filler = n - len(batch)
        if filler:  # not enough signal: fill with masked copies (no gradient, excluded from every mean)
            pool = batch or [TrainSample(t, 0.0, False, False) for ep in self.rollouts.last_episodes for t in ep]
            batch = batch + [TrainSample(pool[i % len(pool)].turn, 0.0, False, False) for i in range(filler)]
        self._last_sampled = batch
        model = self._policy_model()
        was_training = model.training
        model.eval()  # π_old, reference and teacher are scored without dropout
        out, core_metrics = core.prepare_batch(batch, self.models(), self.method, self.temperature,
                                               version=self.state.global_step,
                                               external_sampler=self.rollouts.policy is not None,
                                               real=n - filler, device=self.accelerator.device,
                                               token_log=self.token_log)
        core_metrics.update(self.guard.observe(core_metrics))
        model.train(was_training)
        self._last_inputs = out
        for k, v in {**metrics, **core_metrics}.items():
            self._metrics["train"][k].append(v)
        self._metrics["train"]["filler"].append(float(filler))
        self._metrics["train"]["buffer_pending"].append(float(len(self.buffer)))
        self._metrics["train"]["staleness"].append(
            float(sum(self.state.global_step - s.turn.policy_version for s in batch[:n - filler]) / max(n - filler, 1)))
        if "episode_return" in metrics:  # steps served from the queue collect nothing new: no reward to log
            self._metrics["train"]["reward"].append(metrics["episode_return"])
        return out

    # -- loss --------------------------------------------------------------------------------------------
    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        m = self.method
        input_ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        keep = inputs["completion_ids"].size(1)
        if m.loss == "topk_opd":
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, -keep - 1:-1].float()
            s_top = (logits / self.temperature).log_softmax(-1).gather(-1, inputs["teacher_topk_ids"])
            loss, stats = core.policy_loss(m, inputs, student_topk=s_top)
        else:
            logp, _, _ = self._get_per_token_logps_and_entropies(model, input_ids, attention_mask, keep)
            loss, stats = core.policy_loss(m, inputs, logp=logp)
        self._metrics["train"]["policy_loss"].append(loss.item())
        loss, stats = core.with_echo(model, m, inputs, loss, stats, self._tokenizer.pad_token_id)  # method.echo_coef
        for k, v in stats.items():
            self._metrics["train"][k].append(v)
        return loss / self.current_gradient_accumulation_steps

    # -- checkpoints -------------------------------------------------------------------------------------
    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
        if self.args.should_save and folder.is_dir():
            state = {"step": self.state.global_step, "batch": self.buffer.last_batch,
                     "consumed": self.buffer.consumed, "rounds": self.rollouts.rounds,
                     "episodes": self.rollouts.episodes, "store": str(self.buffer.store.path or "")}
            (folder / STATE_FILE).write_text(json.dumps(state, indent=1))

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        path = os.path.join(checkpoint, STATE_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{checkpoint} has no {STATE_FILE}: not a ClawTrainer checkpoint")
        state = json.loads(Path(path).read_text())
        if "step" not in state:
            raise ConfigError(f"{checkpoint} was written by an older claw-gym (a turns.jsonl journal): resume it "
                              "with that version, or start a new run")
        # rounds collected after the checkpoint keep their seeds: the counters continue from the store
        self.rollouts.rounds = max(state["rounds"], int(self.buffer.get_meta("rounds", 0)))
        self.rollouts.episodes = max(state["episodes"], int(self.buffer.get_meta("episodes", 0)))
        requeued = self.buffer.restore(state["step"], state["batch"])
        self._metrics["train"]["resumed_pending"].append(float(requeued))
        self._buffered_inputs = None
