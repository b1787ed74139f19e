"""``claw serve-model``: a small OpenAI-compatible chat-completions server for a local transformers model.

Used as the CPU judge/policy server. ``POST /v1/chat/completions`` accepts ``messages``, ``temperature``,
``top_p``, ``max_tokens``, ``n``, ``seed``, ``logprobs``/``top_logprobs`` and ``tools``; every choice also
carries ``token_ids`` and the response ``prompt_token_ids``, so trainers get token-exact samples. Sampling is
the trainer's own generator (:class:`~claw_trainer.policy.hf.HFPolicy`): every end-of-sequence id of the model
stops a completion, and the stop token stays in ``token_ids`` (with its log-prob), so it is trained on.
Log-probs are those of the sampling distribution (after temperature/top-p), whose parameters the response
names in ``sampling``. Generation runs in a worker thread, one request at a time per model, so the server keeps
answering ``/health`` while it generates.
"""

# No `from __future__ import annotations`: FastAPI must resolve the request model defined in build_app.
import threading
import time
import uuid
from typing import Any

from claw_envs.core.errors import ConfigError
from claw_trainer.serving.errors import context_overflow


def build_app(model: Any, tokenizer: Any, model_name: str = "local") -> Any:
    import torch
    from fastapi import FastAPI, HTTPException
    from fastapi.concurrency import run_in_threadpool
    from pydantic import BaseModel, Field

    from claw_trainer.policy.hf import ENGINE, HFPolicy

    class ChatRequest(BaseModel):
        model: str | None = None
        messages: list[dict[str, Any]]
        temperature: float = Field(1.0, ge=0.0, le=5.0)
        top_p: float = Field(1.0, gt=0.0, le=1.0)
        max_tokens: int = Field(256, ge=1, le=8192)
        n: int = Field(1, ge=1, le=16)
        seed: int | None = None
        logprobs: bool = False
        top_logprobs: int = Field(0, ge=0, le=20)
        tools: list[dict[str, Any]] | None = None

    app = FastAPI(title="claw serve-model")
    lock = threading.Lock()

    def generate(req: ChatRequest) -> dict[str, Any]:
        policy = HFPolicy(model, tokenizer, req.max_tokens, req.temperature, req.top_p)  # the trainer's generator
        try:
            prompt = policy.prompt_ids(req.messages, req.tools)
        except Exception as e:  # noqa: BLE001
            raise HTTPException(400, f"could not render the messages with the chat template: {e}") from e
        n_prompt = len(prompt)
        ctx = getattr(model.config, "max_position_embeddings", None)
        if ctx and n_prompt + req.max_tokens > ctx:
            raise HTTPException(400, context_overflow(ctx, n_prompt, req.max_tokens))
        with lock:
            if req.seed is not None:
                torch.manual_seed(req.seed)
            samples = policy.sample([req.messages] * req.n, tools=[req.tools] * req.n,
                                    top_logprobs=req.top_logprobs if req.logprobs else 0)
        choices, total = [], 0
        for i, s in enumerate(samples):
            toks = list(s.completion_ids)  # with the end-of-sequence token that stopped it: it is trained on
            total += len(toks)
            choice: dict[str, Any] = {"index": i, "finish_reason": s.finish_reason, "token_ids": toks,
                                      "message": {"role": "assistant", "content": s.text}}
            if req.logprobs:
                content = []
                for t, (tok, lp) in enumerate(zip(toks, s.logprobs, strict=True)):
                    entry: dict[str, Any] = {"token": tokenizer.convert_ids_to_tokens(tok), "logprob": lp}
                    if req.top_logprobs and s.top_logprobs:
                        entry["top_logprobs"] = [{"token": tokenizer.convert_ids_to_tokens(j), "logprob": v}
                                                 for j, v in s.top_logprobs[t]]
                    content.append(entry)
                choice["logprobs"] = {"content": content}
            choices.append(choice)
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
                "model": model_name, "choices": choices, "prompt_token_ids": list(samples[0].prompt_ids),
                "sampling": {"temperature": samples[0].temperature, "top_p": samples[0].top_p, "top_k": 0,
                             "engine": ENGINE},
                "usage": {"prompt_tokens": n_prompt, "completion_tokens": total, "total_tokens": n_prompt + total}}

    @app.post("/v1/chat/completions")
    async def chat(req: ChatRequest) -> dict[str, Any]:
        if not req.messages:
            raise HTTPException(400, "messages must not be empty")
        return await run_in_threadpool(generate, req)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "claw-gym"}]}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


class ModelServer:
    """Run ``build_app`` with uvicorn in a background thread (for tests and in-process use)."""

    def __init__(self, model: Any, tokenizer: Any, host: str = "127.0.0.1", port: int = 0, name: str = "local",
                 insecure: bool = False):
        import socket

        import uvicorn

        from claw_envs.core.netguard import check_bind, guard_app

        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        check_bind(host, False, insecure, "claw serve-model")
        app = guard_app(build_app(model, tokenizer, name), host, False, insecure)
        cfg = uvicorn.Config(app, host=host, port=port, log_level="warning")
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def __enter__(self) -> "ModelServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise ConfigError(f"the model server did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(model_spec: str, host: str = "127.0.0.1", port: int = 8001, insecure: bool = False) -> None:
    """Serve ``model_spec`` until stopped. It has no authentication: a non-loopback ``host`` is refused unless
    ``insecure``; requests with a foreign Host or Origin get 403."""
    import uvicorn

    from claw_envs.core.netguard import check_bind, guard_app
    from claw_trainer.models import load_model

    check_bind(host, False, insecure, "claw serve-model")  # before the model loads
    model, tok = load_model(model_spec)
    uvicorn.run(guard_app(build_app(model, tok, model_spec), host, False, insecure),
                host=host, port=port)
