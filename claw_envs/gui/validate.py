"""Oracle/no-op validation of GUI tasks: the oracle must score 1, doing nothing (``DONE`` at once) must not.

``python -m claw_envs.gui.validate [TASKS] [--ids a b]`` validates on one local desktop and exits non-zero
when a task fails; ``validate_task(env, task_id)`` is the building block (tests use it).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from claw_envs.core.errors import ClawError
from claw_envs.gui.env import GUIEnv


@dataclass(frozen=True)
class Validation:
    task_id: str
    null_score: float | None
    oracle_score: float | None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.null_score == 0.0 and self.oracle_score == 1.0


def validate_task(env: GUIEnv, task_id: str) -> Validation:
    t = time.monotonic()
    try:
        env.reset(options={"task_id": task_id})
        *_, info = env.step("DONE")
        null = info["outcome"]["score"]
        env.reset(options={"task_id": task_id})
        oracle, info = env.run_oracle()
        err = None
        if oracle != 1.0:
            err = f"oracle scored {oracle}: {info.get('evaluation')}"
        elif null != 0.0:
            err = f"doing nothing scores {null}"
        return Validation(task_id, null, oracle, err, time.monotonic() - t)
    except ClawError as e:
        return Validation(task_id, None, None, str(e), time.monotonic() - t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="validate GUI tasks (oracle → 1, no-op → 0) on a local desktop")
    ap.add_argument("tasks", nargs="?", default=None, help="task folder or file (default: tasks/gui)")
    ap.add_argument("--ids", nargs="*", default=None)
    a = ap.parse_args(argv)
    env = GUIEnv(tasks=a.tasks, task_ids=a.ids)
    bad = 0
    try:
        for t in env.tasks:
            v = validate_task(env, t.id)
            bad += not v.ok
            print(f"{'ok ' if v.ok else 'BAD'} {t.id} oracle={v.oracle_score} noop={v.null_score} "
                  f"({v.seconds:.1f} s){'  ' + v.error if v.error else ''}", flush=True)
    finally:
        env.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
