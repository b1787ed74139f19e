"""A deterministic upstream for ``claw serve --upstream``: it answers from a script, token-exactly.

Real agent clients need a model that calls a tool *on demand*; a tiny random model cannot. This server speaks
the upstream contract ``claw serve`` relies on (chat template rendered with the real tiny tokenizer, prompt
and completion token ids, one log-prob per completion token) but its completion is ``script(messages, tools)``.
The policy is deterministic, so each scripted token has probability 1: log-prob 0.0. Tests only.
"""

import threading
import time
from typing import Any

from claw_trainer.policy.hf import chat_prompt_ids
from claw_trainer.serving.openai_format import normalize_messages


def build_app(tokenizer: Any, script: Any) -> Any:
    from fastapi import FastAPI, Request

    app = FastAPI()
    app.state.requests = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, Any]:
        body = await request.json()
        app.state.requests.append(body)
        msgs = normalize_messages(body["messages"])
        prompt = chat_prompt_ids(tokenizer, msgs, body.get("tools"))
        choices = []
        for i in range(body.get("n", 1)):
            text = script(msgs, body.get("tools"))
            ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            choices.append({"index": i, "finish_reason": "stop", "token_ids": ids,
                            "message": {"role": "assistant", "content": text},
                            "logprobs": {"content": [{"token": tokenizer.convert_ids_to_tokens(t), "logprob": 0.0}
                                                     for t in ids]}})
        n_out = sum(len(c["token_ids"]) for c in choices)
        return {"id": "scripted", "object": "chat.completion", "created": int(time.time()), "model": "scripted",
                "choices": choices, "prompt_token_ids": prompt,
                "usage": {"prompt_tokens": len(prompt), "completion_tokens": n_out,
                          "total_tokens": len(prompt) + n_out}}

    return app


class ScriptedUpstream:
    """``with ScriptedUpstream(tokenizer, script) as up:`` serves on 127.0.0.1; ``up.base_url``."""

    def __init__(self, tokenizer: Any, script: Any):
        import socket

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.app = build_app(tokenizer, script)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "ScriptedUpstream":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "scripted upstream did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
