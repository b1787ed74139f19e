"""A policy sampled by vLLM through TRL's own vLLM integration (GPU only; ``pip install 'claw-gym[vllm]'``).

``ClawTrainer`` built with ``GRPOConfig(use_vllm=True, vllm_mode="colocate" | "server")`` gets TRL's
``VLLMGeneration`` (engine start-up, weight sync, sampling parameters from the config). This policy renders each
observation with the chat template, pushes the trainer's current weights to vLLM when the optimizer step has
changed since the last push, and returns token-exact samples: vLLM's completion ids and the log-prob of each
sampled token (the sampler's log-probs, the reference for truncated importance sampling).
"""

from __future__ import annotations

from typing import Any

from claw_trainer.policy.hf import Sample, chat_prompt_ids, stop_token_ids


class VLLMPolicy:
    def __init__(self, trainer: Any):
        if not getattr(trainer, "use_vllm", False):
            raise ValueError("VLLMPolicy needs a trainer built with GRPOConfig(use_vllm=True)")
        self.trainer = trainer
        self.tokenizer = trainer.processing_class
        self.version = 0
        self._synced_step: int | None = None

    def sample(self, observations: list[list[dict[str, Any]]], tools: list[list[dict] | None] | None = None
               ) -> list[Sample]:
        tools = tools or [None] * len(observations)
        prompts = [chat_prompt_ids(self.tokenizer, obs, t) for obs, t in zip(observations, tools, strict=True)]
        gen = self.trainer.vllm_generation
        step = self.trainer.state.global_step
        if self._synced_step != step:
            gen.sync_weights()
            self._synced_step = step
        _, completions, logprobs, _ = gen.generate(prompts=prompts, images=None, num_generations=1)
        stops = set(stop_token_ids(self.trainer.model, self.tokenizer))
        args = self.trainer.args
        top_k = getattr(args, "top_k", 0) or 0
        out = []
        for p, c, lp in zip(prompts, completions, logprobs, strict=True):
            finish = "stop" if c and c[-1] in stops else "length"
            out.append(Sample(tuple(p), tuple(c), tuple(float(x[0]) for x in lp),
                              self.tokenizer.decode(c, skip_special_tokens=True), finish,
                              temperature=args.temperature, top_p=getattr(args, "top_p", 1.0) or 1.0,
                              top_k=top_k if top_k > 0 else 0, engine="vllm"))
        return out
