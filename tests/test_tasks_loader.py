from pathlib import Path

import pytest

from claw_envs.core.errors import TaskError
from claw_envs.core.task import load_task, load_tasks
from claw_envs.terminal.dockerfile import parse_dockerfile

FIXTURES = Path(__file__).parent / "fixtures"


def test_native_task_roundtrip(tmp_path):
    p = tmp_path / "demo.yaml"
    p.write_text("instruction: do it\ntests:\n  - name: a\n    run: 'true'\n  - 'false'\nmax_steps: 4\n")
    t = load_task(p)
    assert (t.id, t.format, t.max_steps) == ("demo", "native", 4)
    assert [c.name for c in t.checks] == ["a", "test 2"]


@pytest.mark.parametrize("body, message", [
    ("instruction: [unclosed", "not valid YAML"),
    ("- a list", "YAML mapping"),
    ("tests: ['true']", "'instruction' must be a non-empty string"),
    ("instruction: x", "'tests' must be a non-empty list"),
    ("instruction: x\ntests: [{name: a}]", "tests[0] must be a mapping with a 'run'"),
    ("instruction: x\ntests: ['true']\nfiles: {rel/path: x}", "absolute paths"),
    ("instruction: x\ntests: ['true']\nmax_steps: -1", "positive integer"),
    ("instruction: x\ntests: ['true']\nbogus: 1", "unknown keys ['bogus']"),
])
def test_malformed_native_tasks_give_clear_errors(tmp_path, body, message):
    p = tmp_path / "bad.yaml"
    p.write_text(body)
    with pytest.raises(TaskError) as e:
        load_task(p)
    assert message in str(e.value) and str(p) in str(e.value)


def test_harbor_folder_loads():
    t = load_task(FIXTURES / "harbor-hello")
    assert t.format == "harbor" and t.id == "harbor-hello"
    assert "Hello, <name>!" in t.instruction and t.solution and t.test_timeout == 60.0
    assert t.difficulty == "easy" and t.dockerfile is not None


def test_load_tasks_directory_errors(tmp_path):
    with pytest.raises(TaskError, match="no such"):
        load_tasks(tmp_path / "missing")
    with pytest.raises(TaskError, match="no tasks found"):
        load_tasks(tmp_path)
    (tmp_path / "a.yaml").write_text("id: same\ninstruction: x\ntests: ['true']\n")
    (tmp_path / "b.yaml").write_text("id: same\ninstruction: y\ntests: ['true']\n")
    with pytest.raises(TaskError, match="duplicate task ids"):
        load_tasks(tmp_path)


def test_parse_dockerfile_joins_continuations():
    steps = parse_dockerfile("FROM x\n# c\nRUN a \\\n  && b\nENV A=1 B=2\n")
    assert [(s.instruction, s.args, s.line) for s in steps] == [
        ("FROM", "x", 1), ("RUN", "a    && b", 3), ("ENV", "A=1 B=2", 5)]
