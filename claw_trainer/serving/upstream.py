"""``claw serve --upstream URL``: generation forwarded to an OpenAI-compatible server that returns token ids.

The upstream (vLLM or SGLang with ``return_token_ids``, or ``claw serve-model``) renders the chat template and
samples; each choice must come back with ``token_ids``, the response (or choice) with ``prompt_token_ids``,
and ``logprobs`` for every completion token, so recorded turns stay token-exact. An upstream that omits them
is a 502 that says so. Stop strings are forwarded (the upstream cuts its token ids where it stops).
Upstream 4xx answers (e.g. its context-length error) pass through as 400s.
Weights cannot be published into an upstream: ``--learn`` needs a local model.
"""

from __future__ import annotations

from typing import Any

import httpx

from claw_trainer.policy.hf import Sample
from claw_trainer.serving.errors import RequestError
from claw_trainer.serving.openai_format import ChatRequest
from claw_trainer.serving.policy import Generation, check_status


class UpstreamPolicy:
    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None,
                 max_new_tokens: int = 256, temperature: float = 1.0, timeout: float = 600.0,
                 max_connections: int = 64):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.max_new_tokens, self.temperature = model, max_new_tokens, temperature
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=timeout, headers=headers,
                                   limits=httpx.Limits(max_connections=max_connections))
        self.version = 0
        self.tokenizer = None

    def generate(self, req: ChatRequest, raw_messages: list[dict[str, Any]]) -> list[Generation]:
        body: dict[str, Any] = {"model": self.model or req.model, "messages": raw_messages, "n": req.n,
                                "max_tokens": req.max_tokens or self.max_new_tokens,
                                "temperature": self.temperature if req.temperature is None else req.temperature,
                                "logprobs": True, "return_token_ids": True}
        if req.top_p is not None:
            body["top_p"] = req.top_p
        if req.tools:
            body["tools"] = req.tools
        if req.stop:
            body["stop"] = req.stop
        try:
            r = self.client.post(self.url, json=body)
        except httpx.HTTPError as e:
            raise RequestError(502, f"upstream {self.url} did not answer: {e}", "upstream_unavailable") from e
        if r.status_code != 200:
            raise check_status(r.status_code, r.text)
        data = r.json()
        version = int(data.get("policy_version") or self.version)
        out = []
        for choice in data.get("choices") or []:
            toks = choice.get("token_ids")
            prompt = data.get("prompt_token_ids") or choice.get("prompt_token_ids")
            content = (choice.get("logprobs") or {}).get("content") or []
            if toks is None or prompt is None or len(content) != len(toks):
                raise RequestError(502, f"upstream {self.url} returned no token ids or log-probs: recording needs "
                                   "a server that returns them (claw serve-model, or vLLM/SGLang with "
                                   "return_token_ids and logprobs)", "upstream_incompatible")
            sample = Sample(tuple(prompt), tuple(toks), tuple(float(c["logprob"]) for c in content),
                            (choice.get("message") or {}).get("content") or "", choice.get("finish_reason") or "stop",
                            version, body.get("temperature"), body.get("top_p", 1.0), None, "upstream")
            out.append(Generation(sample, version, [str(c.get("token", "")) for c in content]))
        if len(out) != req.n:
            raise RequestError(502, f"upstream returned {len(out)} choices for n={req.n}", "upstream_incompatible")
        return out

    def pieces(self, ids: list[int]) -> list[str] | None:
        return None  # no local tokenizer: a streamed answer is one content delta

    def decode(self, ids: list[int]) -> str | None:
        return None

    def close(self) -> None:
        self.client.close()
