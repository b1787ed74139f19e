"""The policy being served: a model and its version, swapped atomically when new weights are published.

Serving never waits for training: the trainer updates its own copy of the weights, and publishing loads them
into a fresh model object that replaces the served one in a single reference assignment. A batch that
started on the old version finishes on it (it holds its own reference) and is tagged with that version.

Concurrent chat requests are batched (:class:`~claw_trainer.serving.batcher.Batcher`): requests that arrive
while the model is busy are sampled together in the next ``generate`` call instead of one after another.
``generate(..., on_token=f)`` streams: ``f(choice, token_id)`` is called from the generation loop as each of the
request's tokens is sampled (each batch row goes to its own request), while the result is the same as without.
A prompt that does not fit the model's context (prompt + ``max_tokens`` > ``max_position_embeddings``) is a
400 ``context_length_exceeded`` before anything is sampled.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from claw_trainer.policy.hf import HFPolicy, Sample, chat_prompt_ids
from claw_trainer.serving.batcher import Batcher
from claw_trainer.serving.errors import RequestError, bad_request, context_overflow
from claw_trainer.serving.openai_format import ChatRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generation:
    """One sampled choice, the version that produced it and its completion tokens as strings (for log-probs)."""

    sample: Sample
    version: int
    tokens: list[str]


class ServedPolicy:
    streams = True  # generate() can report tokens as they are sampled (on_token)

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int = 256, temperature: float = 1.0,
                 version: int = 0, max_batch: int = 8, batch_wait: float = 0.005, max_pending: int = 64):
        self.tokenizer = tokenizer
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        self._current = (model.eval(), version)
        self._gen_lock = threading.Lock()  # one generate at a time per CPU model (they would only contend)
        self.publishes = 0
        self.context_window = int(getattr(model.config, "max_position_embeddings", 0) or 0) or None
        self.batcher = Batcher(self._run_batch, max_batch, batch_wait, max_pending, "claw-serve-batcher")

    @property
    def version(self) -> int:
        return self._current[1]

    def current(self) -> tuple[Any, int]:
        """The served model and its version, read together (treat the model as read-only: it is serving)."""
        return self._current

    def prompt_length(self, req: ChatRequest) -> int:
        """Tokens of the rendered prompt; 400 if the template cannot render it or it does not fit the context."""
        try:
            n = len(chat_prompt_ids(self.tokenizer, req.messages, req.tools))
        except Exception as e:  # noqa: BLE001 - a template error is the request's fault
            raise bad_request(f"the chat template could not render these messages: {e}", "messages") from e
        want = req.max_tokens or self.max_new_tokens
        if self.context_window and n + want > self.context_window:
            raise bad_request(context_overflow(self.context_window, n, want), "messages", "context_length_exceeded")
        return n

    def generate(self, req: ChatRequest, raw_messages: list[dict[str, Any]] | None = None,
                 on_token: Callable[[int, int], None] | None = None) -> list[Generation]:
        """``req.n`` completions of one request (batched with concurrent requests); blocks until sampled.
        ``on_token(choice, token_id)`` (optional) sees each token as it is sampled."""
        self.prompt_length(req)
        temp = self.temperature if req.temperature is None else req.temperature
        key = (req.max_tokens or self.max_new_tokens, temp, req.top_p or 1.0)
        futures = [self.batcher.submit(key, (key, req.messages, req.tools,
                                             (lambda tok, i=i: on_token(i, tok)) if on_token else None))
                   for i in range(req.n)]
        return [f.result() for f in futures]

    def _run_batch(self, items: list[tuple]) -> list[Generation]:
        (max_new, temp, top_p), _, _, _ = items[0]
        taps = [tap for *_, tap in items]

        def on_token(row: int, tok: int) -> None:  # row i of the batch is items[i]'s request
            tap = taps[row]
            if tap is not None:
                try:
                    tap(tok)
                except Exception:  # noqa: BLE001 - a listener's failure must not fail the batch
                    log.exception("a token listener failed; the request is still sampled and recorded")
                    taps[row] = None

        model, version = self._current  # read once: a publish during generation does not affect this batch
        policy = HFPolicy(model, self.tokenizer, max_new, temp, top_p, version=version)
        with self._gen_lock:
            samples = policy.sample([m for _, m, _, _ in items], tools=[t for _, _, t, _ in items],
                                    on_token=on_token if any(taps) else None)
        return [Generation(s, version, self.tokenizer.convert_ids_to_tokens(list(s.completion_ids)))
                for s in samples]

    def pieces(self, ids: list[int]) -> list[str] | None:
        """The decoded text each completion token adds (for streamed deltas; joins to the full text)."""
        out, prev = [], ""
        for k in range(1, len(ids) + 1):
            text = self.tokenizer.decode(ids[:k], skip_special_tokens=True)
            out.append(text[len(prev):] if text.startswith(prev) else text)
            prev = text
        return out

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def sample(self, messages: list[dict[str, Any]], tools: list[dict] | None = None, max_tokens: int | None = None,
               temperature: float | None = None) -> tuple[Sample, int]:
        """One completion and the version that produced it (unbatched)."""
        model, version = self._current
        policy = HFPolicy(model, self.tokenizer, max_tokens or self.max_new_tokens,
                          self.temperature if temperature is None else temperature, version=version)
        with self._gen_lock:
            return policy.sample([messages], tools=[tools])[0], version

    def sample_batch(self, observations: list[list[dict[str, Any]]], tools: list[list[dict] | None] | None = None
                     ) -> list[Sample]:
        """A batch of completions from one version (the env-hosting loop's sampler); ``.version`` tags them."""
        model, version = self._current
        policy = HFPolicy(model, self.tokenizer, self.max_new_tokens, self.temperature, version=version)
        with self._gen_lock:
            return [dataclasses.replace(s, version=version) for s in policy.sample(observations, tools=tools)]

    def publish(self, state_dict: dict[str, torch.Tensor], version: int) -> None:
        """Serve ``state_dict`` from now on as ``version`` (built off to the side, then swapped in)."""
        model, _ = self._current
        fresh = copy.deepcopy(model)
        fresh.load_state_dict(state_dict)
        fresh.eval()
        self._current = (fresh, version)
        self.publishes += 1

    def close(self) -> None:
        self.batcher.stop()


def check_status(status: int, text: str) -> RequestError:
    """A RequestError for an upstream's error answer, keeping its OpenAI error body when it sent one."""
    import json

    try:
        err = json.loads(text).get("error") or {}
    except (ValueError, AttributeError):
        err = {}
    if isinstance(err, str):
        err = {"message": err}
    msg = err.get("message") or text[:500] or f"HTTP {status}"
    code = err.get("code") or ("context_length_exceeded" if "context length" in msg.lower() else None)
    return RequestError(status if 400 <= status < 500 else 502, f"upstream: {msg}", code, err.get("param"))
