"""Oracle validation of tool tasks: the oracle's tool calls must compute the gold answer; a wrong one fails."""

from __future__ import annotations

import json
from dataclasses import dataclass

from claw_envs.toolcall.env import ToolCallEnv


@dataclass(frozen=True)
class ToolValidation:
    task_id: str
    oracle_reward: float | None
    wrong_reward: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.oracle_reward == 1.0 and (self.wrong_reward or 0) < 0


def validate_tool_task(env: ToolCallEnv, task_id: str) -> ToolValidation:
    """Run the task's oracle tool calls; answer with the last call's output; then answer wrongly."""
    env.reset(options={"task_id": task_id})
    task = env.task
    if not task.oracle:
        return ToolValidation(task_id, None, None, "no oracle tool calls")
    last = ""
    for call in task.oracle:
        _, _, term, trunc, info = env.step(f"<tool_call>{json.dumps(call)}</tool_call>")
        if info["next_state"].payload["errors"] or term or trunc:
            return ToolValidation(task_id, None, None, f"oracle call {call['name']} failed: "
                                  f"{info['next_state'].text[:300]}")
        last = info["next_state"].text.strip()
    _, oracle_reward, *_ = env.step(f"\\boxed{{{last}}}")
    env.reset(options={"task_id": task_id})
    _, wrong_reward, *_ = env.step("\\boxed{definitely not the answer 123456789}")
    err = None if oracle_reward == 1.0 else f"oracle answered {last[:200]!r}, gold is {task.answer!r}"
    return ToolValidation(task_id, oracle_reward, wrong_reward, err)
