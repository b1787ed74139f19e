"""A transformers policy: batched ``generate`` on chat observations, CPU by default.

Each sample keeps what the trainer needs, captured at sampling time: the prompt token ids (the chat template
applied to the observation), the completion token ids (up to and including the first end-of-sequence token
sampled — any of ``generation_config.eos_token_id``, not only the tokenizer's), the log-probability of
every completion token under the sampling distribution, and the sampling parameters and engine that produced
them. With ``temperature=1`` and no top-k/top-p these are the policy's own log-probs (tests check this
against a teacher-forced forward pass); otherwise the learner re-scores π_old
(:func:`claw_trainer.core.sampled_like_learner`).

``sample(..., on_token=f)`` also reports each token as it is sampled: ``f(row, token_id)`` for every row still
generating (up to and including its first end-of-sequence token), from the generation loop — this is what
``claw serve`` streams. It only observes: the samples are the same with or without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ENGINE = "hf"  # this module's engine name; the learner's log-probs come from the same transformers forward


@dataclass(frozen=True)
class Sample:
    """THE sample contract every sampler returns (HF in-process, ``claw serve-model``, an OpenAI-compatible
    server, vLLM): token-exact ids, the sampler's log-probs, and the distribution they were drawn from."""

    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    text: str
    finish_reason: str  # stop | length
    version: int | None = None  # the policy version that produced it, when the sampler knows
    temperature: float | None = None  # 0 = greedy (its log-probs are then the temperature-1 ones)
    top_p: float | None = None  # 1.0 = no nucleus truncation
    top_k: int | None = None  # 0 = no top-k truncation
    engine: str | None = None  # hf | openai | vllm | upstream: who computed the log-probs
    top_logprobs: tuple[tuple[tuple[int, float], ...], ...] | None = None  # per token: (id, log-prob) of the top-k


def chat_prompt_ids(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict] | None = None) -> list[int]:
    """Token ids of the chat template applied to ``messages`` (with ``tools``), ready for the assistant's reply."""
    msgs = [{k: v for k, v in m.items() if k in ("role", "content", "tool_calls", "tool_call_id", "name")}
            for m in messages]
    text = tokenizer.apply_chat_template(msgs, tools=tools or None, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every end-of-sequence id: ``generation_config.eos_token_id`` (often several, e.g. Qwen's
    ``<|im_end|>`` and ``<|endoftext|>``) plus the tokenizer's ``eos_token_id``."""
    ids: list[int] = []
    gen = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for v in (gen, tokenizer.eos_token_id):
        for i in (v if isinstance(v, list | tuple) else [v]):
            if i is not None and int(i) not in ids:
                ids.append(int(i))
    return ids


class HFPolicy:
    """Sample completions for a batch of chat observations with a transformers causal LM."""

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int = 256, temperature: float = 1.0,
                 top_p: float = 1.0, tools: list[dict] | None = None, version: int = 0):
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p
        self.tools = tools
        self.version = version
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.stop_ids = stop_token_ids(model, tokenizer)

    def prompt_ids(self, messages: list[dict[str, Any]], tools: list[dict] | None = None) -> list[int]:
        return chat_prompt_ids(self.tokenizer, messages, tools if tools is not None else self.tools)

    def sample(self, observations: list[list[dict[str, Any]]], tools: list[list[dict] | None] | None = None,
               top_logprobs: int = 0, on_token: Callable[[int, int], None] | None = None) -> list[Sample]:
        """One completion per observation; ``tools[i]`` (tool schemas) overrides the policy's for observation i.
        ``top_logprobs > 0`` also records, per completion token, the sampling distribution's top-k (id, log-prob).
        ``on_token(row, token_id)`` (optional) is called as each row's tokens are sampled (see the module doc)."""
        import torch

        tools = tools or [None] * len(observations)
        prompts = [self.prompt_ids(obs, t) for obs, t in zip(observations, tools, strict=True)]
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        attn = torch.zeros_like(ids)
        for i, p in enumerate(prompts):  # left padding, so every completion starts at column `width`
            ids[i, width - len(p):] = torch.tensor(p)
            attn[i, width - len(p):] = 1
        sample = self.temperature > 0
        extra: dict[str, Any] = {}
        if on_token is not None:
            from transformers import StoppingCriteriaList

            extra["stopping_criteria"] = StoppingCriteriaList([_TokenTap(on_token, len(prompts), self.stop_ids)])
        with torch.no_grad():
            out = self.model.generate(input_ids=ids.to(self.model.device), attention_mask=attn.to(self.model.device),
                                      max_new_tokens=self.max_new_tokens, do_sample=sample,
                                      temperature=self.temperature if sample else None,
                                      top_p=self.top_p if sample else None, top_k=0 if sample else None,
                                      output_scores=True, return_dict_in_generate=True, pad_token_id=pad,
                                      eos_token_id=self.stop_ids, **extra)
        logp = torch.stack(out.scores, dim=1).float().log_softmax(-1)  # (B, T, V)
        samples = []
        for i, p in enumerate(prompts):
            toks = out.sequences[i, width:].tolist()
            finish = "length"
            end = next((k for k, t in enumerate(toks) if t in self.stop_ids), None)
            if end is not None:  # keep the end-of-turn token (it is trained on), drop the padding after it
                toks, finish = toks[:end + 1], "stop"
            lps = tuple(float(logp[i, t, tok]) for t, tok in enumerate(toks))
            text = self.tokenizer.decode(toks, skip_special_tokens=True)
            top = None
            if top_logprobs:
                vals, idx = logp[i, :len(toks)].topk(top_logprobs, dim=-1)
                top = tuple(tuple((int(j), float(v)) for v, j in zip(vr.tolist(), ir.tolist(), strict=True))
                            for vr, ir in zip(vals, idx, strict=True))
            samples.append(Sample(tuple(p), tuple(toks), lps, text, finish, self.version,
                                  self.temperature if sample else 0.0, self.top_p if sample else 1.0, 0, ENGINE, top))
        return samples


class _TokenTap:
    """A stopping criterion that never stops: it hands each row's newest token to ``on_token(row, id)`` until the
    row's first end-of-sequence token (after that, ``generate`` only pads the row)."""

    def __init__(self, on_token: Callable[[int, int], None], rows: int, stop_ids: list[int]):
        self.on_token, self.stop_ids = on_token, set(stop_ids)
        self.live = [True] * rows

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        for row, tok in enumerate(input_ids[:, -1].tolist()):
            if self.live[row]:
                self.live[row] = tok not in self.stop_ids
                self.on_token(row, tok)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
