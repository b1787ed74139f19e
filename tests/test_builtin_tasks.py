"""Every shipped terminal task: the oracle passes all tests, a do-nothing agent does not."""

import pytest

from claw_envs.core.task import builtin_tasks_dir, load_tasks
from claw_envs.terminal.env import TerminalEnv
from claw_envs.terminal.validate import validate_task
from tests.conftest import needs_local

TASKS = load_tasks(builtin_tasks_dir("terminal"))


def test_there_are_at_least_25_tasks_over_the_categories():
    assert len(TASKS) >= 25
    tags = {tag for t in TASKS for tag in t.tags}
    assert {"files", "text", "archives", "git", "python", "permissions", "processes", "data"} <= tags
    assert all(t.solution for t in TASKS)


@pytest.fixture(scope="module")
def env():
    e = TerminalEnv()
    yield e
    e.close()


@needs_local
@pytest.mark.parametrize("task_id", [t.id for t in TASKS])
def test_oracle_passes_and_null_fails(env, task_id):
    v = validate_task(env, task_id)
    assert v.ok, v
