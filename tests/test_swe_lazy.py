"""claw/SWE-v0 on a dataset of thousands of rows: the JSONL is indexed by byte offsets and a row is parsed only
when an episode picks it (or it is asked for); constructing the env parses no row but the first."""

from __future__ import annotations

import json
import tracemalloc

import gymnasium as gym
import pytest

import claw_envs  # noqa: F401
from claw_envs.core.errors import TaskError
from claw_envs.swe import instance as I
from claw_envs.swe.instance import LazyInstances
from tests.conftest import needs_local

pytest.importorskip("swebench", reason="the [swe] extra (swebench) is not installed")
ROWS = 5000


def _row(k: int) -> dict:
    return {"instance_id": f"gen__row-{k}", "repo": "gen/calc", "base_commit": "",
            "problem_statement": f"ROW-{k}: add() is wrong. " + "context " * 60,
            "patch": "", "test_patch": "", "FAIL_TO_PASS": ["tests/test_calc.py::test_add"],
            "PASS_TO_PASS": [f"tests/test_calc.py::test_other[{i}]" for i in range(40)],
            "version": "1.0", "claw_source": "repo", "claw_setup_patch": "", "claw_deps": None,
            "claw_pythonpath": [], "claw_meta": {"row": k, "note": 'a "quoted" instance_id: "not-this-one"'}}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("lazy")
    (d / "repo" / "tests").mkdir(parents=True)
    (d / "repo" / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (d / "repo" / "tests" / "test_calc.py").write_text(
        "from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    path = d / "instances.jsonl"
    with path.open("w") as f:
        for k in range(ROWS):
            f.write(json.dumps(_row(k)) + "\n")
            if k == 10:
                f.write("\n")  # a blank line is not a row
    return path


@pytest.fixture
def counted(monkeypatch):
    """Counts JSON parses and row conversions made through the instance module."""
    calls = {"loads": 0, "from_row": 0}
    real_loads, real_from_row = json.loads, I.from_row

    def loads(*a, **k):
        calls["loads"] += 1
        return real_loads(*a, **k)

    def from_row(*a, **k):
        calls["from_row"] += 1
        return real_from_row(*a, **k)

    monkeypatch.setattr(I.json, "loads", loads)
    monkeypatch.setattr(I, "from_row", from_row)
    return calls


def test_construction_parses_no_row_but_the_first(dataset, counted):
    size = dataset.stat().st_size
    tracemalloc.start()
    env = gym.make("claw/SWE-v0", tasks=str(dataset))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows = env.unwrapped.instances
    assert isinstance(rows, LazyInstances) and len(rows) == ROWS
    assert counted == {"loads": 1, "from_row": 1}  # the first row, a format check
    assert peak < size / 4, f"constructing the env allocated {peak} bytes for a {size}-byte file"
    # row k is row k, parsed on access only
    for k in (0, 1, 10, 11, 2500, ROWS - 1):
        inst = rows[k]
        assert inst.instance_id == f"gen__row-{k}" and inst.problem_statement.startswith(f"ROW-{k}:")
        assert inst.extra["meta"]["row"] == k and inst.source == dataset.parent / "repo"
    assert rows[-1].instance_id == f"gen__row-{ROWS - 1}"
    assert counted["from_row"] == 6  # rows[0] cached; rows[-1] is rows[ROWS-1], cached
    with pytest.raises(IndexError):
        rows[ROWS]
    env.close()


def test_ids_without_parsing(dataset, counted):
    rows = LazyInstances(dataset)
    ids = rows.ids()
    assert len(ids) == ROWS and ids["gen__row-4321"] == 4321  # claw_meta's quoted "instance_id" is not taken
    assert counted["from_row"] == 1
    by_id = rows.by_id()
    assert "gen__row-77" in by_id and "nope" not in by_id
    assert by_id["gen__row-77"].instance_id == "gen__row-77"
    sub = LazyInstances(dataset, only=["gen__row-3", "gen__row-4999"])
    assert [i.instance_id for i in sub] == ["gen__row-3", "gen__row-4999"]
    with pytest.raises(TaskError, match="unknown task ids"):
        LazyInstances(dataset, only=["gen__row-3", "missing"])


def test_bad_rows_fail_clearly(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"x": 1}\n')
    with pytest.raises(TaskError, match="missing SWE-bench fields"):
        gym.make("claw/SWE-v0", tasks=str(bad))
    dup = tmp_path / "dup.jsonl"
    (tmp_path / "repo").mkdir()
    dup.write_text(json.dumps(_row(1)) + "\n" + json.dumps(_row(1)) + "\n")
    with pytest.raises(TaskError, match="in rows 0 and 1"):
        LazyInstances(dup).ids()
    changed = tmp_path / "changed.jsonl"
    changed.write_text(json.dumps(_row(1)) + "\n" + json.dumps(_row(2)) + "\n")
    rows = LazyInstances(changed)
    changed.write_text(json.dumps(_row(1)) + "\n")
    with pytest.raises(TaskError, match="changed since it was indexed"):
        rows[1]


@needs_local
def test_reset_on_row_k_returns_row_k(dataset, counted):
    env = gym.make("claw/SWE-v0", tasks=str(dataset), max_steps=2, eval_timeout=60)
    try:
        for k in (4321, 7):
            obs, info = env.reset(options={"task_id": f"gen__row-{k}"})
            assert info["task_id"] == f"gen__row-{k}"
            assert f"ROW-{k}:" in json.dumps(obs)
        assert counted["from_row"] == 3  # the first row at construction, then one per picked row
        _, info = env.reset(seed=123)
        assert info["task_id"].startswith("gen__row-")
        r = env.unwrapped._sandbox.exec("cat calc.py")
        assert "a - b" in r.stdout
    finally:
        env.close()
