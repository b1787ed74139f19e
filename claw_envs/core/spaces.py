"""Gymnasium spaces for text actions and chat-message observations.

``spaces.Text`` defaults to an alphanumeric charset, which rejects almost every real model output, so
claw-gym uses ``UnicodeText`` (any ``str`` up to ``max_length``) and ``Chat`` (a list of
``{"role", "content"}`` dicts, with an optional ``image`` for GUI envs). Both batch as tuples in vector envs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import utils as vutils

ROLES = ("system", "user", "assistant", "tool")
_SAMPLE_ALPHABET = "abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.,;:!?-_/\\'\"`$|&<>(){}[]\né中ß😀"


class UnicodeText(spaces.Space[str]):
    """Any Python ``str`` of at most ``max_length`` characters (all of Unicode)."""

    def __init__(self, max_length: int = 65536, seed: int | np.random.Generator | None = None):
        self.max_length = int(max_length)
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        n = int(self.np_random.integers(0, min(self.max_length, 64) + 1))
        idx = self.np_random.integers(0, len(_SAMPLE_ALPHABET), size=n)
        return "".join(_SAMPLE_ALPHABET[i] for i in idx)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, UnicodeText) and other.max_length == self.max_length


class Chat(spaces.Space[list]):
    """A list of chat messages: dicts with ``role`` (system|user|assistant|tool) and ``content`` (str).

    A message may also carry ``image`` (PNG bytes) and ``name``/``tool_call_id`` strings.
    """

    def __init__(self, max_messages: int = 4096, max_length: int = 1 << 20,
                 seed: int | np.random.Generator | None = None):
        self.max_messages = int(max_messages)
        self.max_length = int(max_length)
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> list[dict[str, str]]:
        text = UnicodeText(64, seed=int(self.np_random.integers(1 << 31)))
        n = int(self.np_random.integers(1, 4))
        return [{"role": ROLES[int(self.np_random.integers(1, 3))], "content": text.sample()} for _ in range(n)]

    def contains(self, x: Any) -> bool:
        if not isinstance(x, list) or len(x) > self.max_messages:
            return False
        for m in x:
            if not isinstance(m, dict) or m.get("role") not in ROLES:
                return False
            c = m.get("content")
            if not isinstance(c, str) or len(c) > self.max_length:
                return False
            if "image" in m and not isinstance(m["image"], bytes | type(None)):
                return False
        return True

    def __repr__(self) -> str:
        return f"Chat(max_messages={self.max_messages})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Chat) and (other.max_messages, other.max_length) == (
            self.max_messages, self.max_length)


class Batched(spaces.Space[tuple]):
    """A batch of ``n`` values of a non-array space (what vector envs use for text and chat)."""

    def __init__(self, space: spaces.Space, n: int, seed: int | np.random.Generator | None = None):
        self.space, self.n = space, int(n)
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def seed(self, seed: int | None = None) -> Any:
        out = super().seed(seed)
        self.space.seed(int(self.np_random.integers(1 << 31)))
        return out

    def sample(self, mask: Any = None, probability: Any = None) -> tuple:
        return tuple(self.space.sample() for _ in range(self.n))

    def contains(self, x: Any) -> bool:
        return isinstance(x, tuple | list) and len(x) == self.n and all(self.space.contains(v) for v in x)

    def __repr__(self) -> str:
        return f"Batched({self.space!r}, {self.n})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Batched) and other.n == self.n and other.space == self.space


# Vector-env support: a batch of text or chat values is a tuple with one entry per sub-env.
@vutils.batch_space.register(UnicodeText)
@vutils.batch_space.register(Chat)
def _batch(space: spaces.Space, n: int = 1) -> Batched:
    return Batched(space, n)


@vutils.batch_differing_spaces.register(UnicodeText)
@vutils.batch_differing_spaces.register(Chat)
def _batch_differing(spaces_: Sequence[spaces.Space]) -> Batched:
    return Batched(spaces_[0], len(spaces_))


@vutils.concatenate.register(UnicodeText)
@vutils.concatenate.register(Chat)
def _concatenate(space: spaces.Space, items: Sequence[Any], out: Any) -> tuple:
    return tuple(items)


@vutils.create_empty_array.register(UnicodeText)
@vutils.create_empty_array.register(Chat)
def _empty(space: spaces.Space, n: int = 1, fn: Any = np.zeros) -> tuple:
    return tuple([None] * n)


@vutils.iterate.register(Batched)
def _iterate(space: Batched, items: Any) -> Iterator:
    return iter(items)
