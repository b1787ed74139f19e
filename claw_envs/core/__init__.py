"""Core contracts shared by every claw env: errors, NextState, spaces, actions, tasks, ClawEnv."""

from claw_envs.core.actions import ParsedAction, ToolCall, parse_action
from claw_envs.core.errors import (
    ActionParseError,
    ClawError,
    ConfigError,
    JudgeError,
    SandboxError,
    TaskError,
)
from claw_envs.core.nextstate import NextState
from claw_envs.core.spaces import Chat, UnicodeText

__all__ = [
    "ActionParseError", "Chat", "ClawError", "ConfigError", "JudgeError", "NextState", "ParsedAction",
    "SandboxError", "TaskError", "ToolCall", "UnicodeText", "parse_action",
]
