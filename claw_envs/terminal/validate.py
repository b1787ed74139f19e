"""Oracle/null validation of terminal tasks: the oracle must pass every test, doing nothing must not."""

from __future__ import annotations

from dataclasses import dataclass

from claw_envs.core.errors import ClawError
from claw_envs.terminal.env import TerminalEnv


@dataclass(frozen=True)
class Validation:
    task_id: str
    null_score: float | None
    oracle_score: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.null_score is not None and self.null_score < 1.0 \
            and self.oracle_score == 1.0


def validate_task(env: TerminalEnv, task_id: str) -> Validation:
    """Run a do-nothing episode and an oracle episode of ``task_id`` through ``env``."""
    try:
        env.reset(options={"task_id": task_id})
        *_, info = env.step("submit")
        null = info["outcome"]["pass_fraction"]
        env.reset(options={"task_id": task_id})
        r = env.run_oracle()
        *_, info = env.step("submit")
        oracle = info["outcome"]["pass_fraction"]
        err = None if oracle == 1.0 else (
            f"oracle scored {oracle:.2f} (solution exit {r.exit_code}; failing: "
            f"{[t['name'] for t in info['outcome']['tests'] if not t['passed']]})")
        if err is None and null >= 1.0:
            err = "a do-nothing agent passes every test"
        return Validation(task_id, null, oracle, err)
    except ClawError as e:
        return Validation(task_id, None, None, str(e))
