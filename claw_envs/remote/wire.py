"""What a claw env step looks like on the wire (OpenEnv's JSON shapes), both ways.

OpenEnv serialises an observation as ``{"observation": {...}, "reward": float | None, "done": bool}`` and drops
the observation's ``metadata``, so everything a claw env returns travels as *declared observation fields*:

``messages``
    the chat observation; a message's ``image`` (PNG bytes) becomes a base64 image block
    ``{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ...}}``.
``next_state``
    the step's :class:`~claw_envs.core.nextstate.NextState` as a dict (its image as an image block), or null
    after a reset.
``terminated`` / ``truncated``
    Gymnasium's two flags (``done`` = either).
``reward_channels``
    ``info["reward_channels"]`` when the env is wrapped by a judge, else null.
``info``
    the rest of ``info`` (task id, tools, outcome, ...), JSON-safe.

Bytes anywhere become blocks (``image`` for PNG data, ``{"type": "bytes", "data": b64}`` otherwise) and
come back as ``bytes``; tuples come back as lists. Actions travel as ``{"text": str}`` (the model's raw text)
or ``{"message": {...}}`` (an OpenAI-style assistant message with ``tool_calls``).
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from claw_envs.core.errors import RemoteError
from claw_envs.core.nextstate import NextState

_PNG = b"\x89PNG"
OBS_FIELDS = ("messages", "next_state", "terminated", "truncated", "reward_channels", "info")


def encode(value: Any) -> Any:
    """A JSON-safe copy of ``value``: bytes -> blocks, dataclasses -> dicts, numpy -> Python, other -> str."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray):
        data = base64.b64encode(bytes(value)).decode("ascii")
        if bytes(value[:4]) == _PNG:
            return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
        return {"type": "bytes", "data": data}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode(v) for v in value]
    if isinstance(value, NextState):
        return encode_next_state(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encode(dataclasses.asdict(value))
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return encode(value.tolist())
    return str(value)


def decode(value: Any) -> Any:
    """The inverse of :func:`encode` for blocks (bytes come back); everything else is returned as is."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("type")
    if kind == "image" and isinstance(value.get("source"), dict) and value["source"].get("type") == "base64" \
            and len(value) == 2:
        return base64.b64decode(value["source"]["data"])
    if kind == "bytes" and set(value) == {"type", "data"}:
        return base64.b64decode(value["data"])
    return {k: decode(v) for k, v in value.items()}


def encode_next_state(ns: NextState) -> dict[str, Any]:
    return {"role": ns.role, "kind": ns.kind, "text": ns.text, "image": encode(ns.image),
            "exit_code": ns.exit_code, "done_reason": ns.done_reason, "payload": encode(ns.payload)}


def decode_next_state(d: dict[str, Any] | None) -> NextState | None:
    if d is None:
        return None
    return NextState(role=d["role"], kind=d["kind"], text=d["text"], image=decode(d.get("image")),
                     exit_code=d.get("exit_code"), done_reason=d.get("done_reason"),
                     payload=decode(d.get("payload") or {}))


def step_payload(obs: Any, reward: float | None, terminated: bool, truncated: bool,
                 info: dict[str, Any]) -> dict[str, Any]:
    """OpenEnv's ``{"observation", "reward", "done"}`` for one reset (reward None) or step."""
    rest = {k: v for k, v in info.items() if k not in ("next_state", "reward_channels")}
    ns = info.get("next_state")
    observation = {"messages": encode(obs), "next_state": encode_next_state(ns) if isinstance(ns, NextState) else None,
                   "terminated": bool(terminated), "truncated": bool(truncated),
                   "reward_channels": encode(info.get("reward_channels")), "info": encode(rest)}
    return {"observation": observation, "reward": None if reward is None else float(reward),
            "done": bool(terminated or truncated)}


def parse_payload(payload: dict[str, Any]) -> tuple[Any, float, bool, bool, dict[str, Any]]:
    """``(obs, reward, terminated, truncated, info)`` from a payload made by :func:`step_payload`."""
    try:
        o = payload["observation"]
        info = decode(o.get("info") or {})
        ns = decode_next_state(o.get("next_state"))
        if ns is not None:
            info["next_state"] = ns
        if o.get("reward_channels") is not None:
            info["reward_channels"] = decode(o["reward_channels"])
        return (decode(o["messages"]), float(payload.get("reward") or 0.0), bool(o["terminated"]),
                bool(o["truncated"]), info)
    except (KeyError, TypeError, AttributeError) as e:
        raise RemoteError(f"the server sent an observation without claw's fields ({e!r}); is it a "
                          "`claw env-server`?") from e


def action_to_wire(action: Any) -> dict[str, Any]:
    """``{"text": ...}`` for model text, ``{"message": ...}`` for an assistant message / list of tool calls."""
    if isinstance(action, str):
        return {"text": action}
    if isinstance(action, dict | list):
        return {"message": encode(action)}
    raise RemoteError(f"cannot send an action of type {type(action).__name__}: use model text (str) or an "
                      "assistant message dict")


def action_from_wire(data: Any) -> Any:
    """The env action inside a step message's ``data``; a ValueError names the accepted shapes."""
    if isinstance(data, dict):
        if isinstance(data.get("text"), str):
            return data["text"]
        if isinstance(data.get("message"), dict | list):
            return decode(data["message"])
    raise ValueError('a step action must be {"text": "<model output>"} or {"message": {"role": "assistant", '
                     '"content": ..., "tool_calls": [...]}}')
