"""A policy behind any OpenAI-compatible server (``claw serve-model``, vLLM), sampled token-exactly.

Each request asks for ``logprobs`` and ``return_token_ids`` (vLLM's extension; ``claw serve-model`` always
returns them), so a sample carries the server's prompt token ids, completion token ids and per-token
log-probs — what the trainer needs without re-tokenising text. A server that does not return token ids is
an error that says so. Requests for a batch of observations run concurrently.
"""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

import httpx

from claw_envs.core.errors import ConfigError
from claw_trainer.policy.hf import Sample


class OpenAIPolicy:
    def __init__(self, base_url: str, model: str = "default", max_tokens: int = 256, temperature: float = 1.0,
                 top_p: float = 1.0, api_key: str | None = None, timeout: float = 300.0, max_concurrency: int = 16,
                 version: int = 0):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.max_tokens, self.temperature, self.top_p = model, max_tokens, temperature, top_p
        self.version = version
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=timeout, headers=headers)
        self.pool = cf.ThreadPoolExecutor(max_concurrency, thread_name_prefix="claw-policy")

    def _one(self, messages: list[dict[str, Any]], tools: list[dict] | None) -> Sample:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": self.max_tokens,
                                "temperature": self.temperature, "top_p": self.top_p, "logprobs": True,
                                "return_token_ids": True}
        if tools:
            body["tools"] = tools
        r = self.client.post(self.url, json=body)
        if r.status_code != 200:
            raise ConfigError(f"policy server {self.url} answered HTTP {r.status_code}: {r.text[:300]}")
        data = r.json()
        choice = data["choices"][0]
        toks, prompt = choice.get("token_ids"), data.get("prompt_token_ids") or choice.get("prompt_token_ids")
        if toks is None or prompt is None:
            raise ConfigError(f"policy server {self.url} returned no token ids: training needs a server that "
                              "returns them (claw serve-model, or vLLM with return_token_ids)")
        content = (choice.get("logprobs") or {}).get("content") or []
        if len(content) != len(toks):
            raise ConfigError(f"policy server returned {len(content)} log-probs for {len(toks)} tokens")
        return Sample(tuple(prompt), tuple(toks), tuple(float(c["logprob"]) for c in content),
                      choice["message"].get("content") or "", choice.get("finish_reason") or "stop",
                      temperature=self.temperature, top_p=self.top_p, top_k=0, engine="openai")

    def sample(self, observations: list[list[dict[str, Any]]], tools: list[list[dict] | None] | None = None
               ) -> list[Sample]:
        tools = tools or [None] * len(observations)
        futs = [self.pool.submit(self._one, obs, t) for obs, t in zip(observations, tools, strict=True)]
        return [f.result() for f in futs]

    def close(self) -> None:
        self.pool.shutdown(wait=False)
        self.client.close()
