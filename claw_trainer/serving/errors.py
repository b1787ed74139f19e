"""OpenAI-shaped request errors: a status code and the ``{"error": {message, type, param, code}}`` body.

``RequestError`` is a :class:`~claw_envs.core.errors.ClawError`; the proxy turns it into the JSON body the
OpenAI SDKs parse (``openai.BadRequestError``, ``AuthenticationError``, ``RateLimitError``, ...).
"""

from __future__ import annotations

from typing import Any

from claw_envs.core.errors import ClawError

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
          429: "rate_limit_exceeded", 500: "server_error", 502: "server_error", 503: "service_unavailable"}


class RequestError(ClawError):
    """A chat request that cannot be answered; ``status`` is the HTTP status to send."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 type_: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.type = type_ or _TYPES.get(status, "server_error")

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> RequestError:
    return RequestError(400, message, code, param)


def context_overflow(limit: int, n_prompt: int, n_completion: int) -> str:
    """The context-overflow message in OpenAI's wording, which clients and ``check_status`` recognise."""
    return (f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{n_prompt + n_completion} tokens ({n_prompt} in the messages, {n_completion} in the completion). "
            "Please reduce the length of the messages or completion.")
