"""The next-state signal: what the world said right after an action."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["user", "tool", "environment"]
Kind = Literal["terminal", "swe", "gui", "tool", "chat"]


@dataclass(frozen=True)
class NextState:
    """What the world answered to the agent's last action.

    Every ``ClawEnv.step`` puts one in ``info["next_state"]``. It is recorded from the world's own answer
    (command output, tool result, user reply, screenshot), never re-rendered from the observation.

    Attributes:
        role: who answered: ``user`` (a person or simulated user), ``tool`` (a tool the agent called) or
            ``environment`` (the world itself: a shell, a desktop, a test run).
        kind: the env family: terminal, swe, gui, tool or chat.
        text: the answer as text (what the agent is shown next).
        image: PNG bytes for visual answers (GUI), else None.
        exit_code: exit status of a command, when there was one.
        done_reason: why the episode ended on this step (``submitted``, ``max_steps``, ``parse_errors``...),
            else None.
        payload: the raw structured answer (stdout, stderr, timed_out, truncated, parse error...).
    """

    role: Role
    kind: Kind
    text: str
    image: bytes | None = None
    exit_code: int | None = None
    done_reason: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (the image is replaced by its size)."""
        d = asdict(self)
        d["image"] = None if self.image is None else f"<png {len(self.image)} bytes>"
        return d
