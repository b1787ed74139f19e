"""Tool-use tasks: a question, a gold answer, the verifier, the tools offered, an oracle tool-call script."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claw_envs.core.errors import TaskError
from claw_envs.core.task import read_jsonl, read_yaml

VERIFIERS = ("math", "numeric", "exact")


@dataclass(frozen=True)
class ToolTask:
    id: str
    question: str
    answer: str
    verifier: str = "math"
    tolerance: float | None = None
    tools: tuple[str, ...] = ("python",)
    oracle: tuple[dict[str, Any], ...] = ()  # tool calls; the last one's output is the oracle's answer
    tags: tuple[str, ...] = ()


def _task(d: Any, where: str) -> ToolTask:
    if not isinstance(d, dict):
        raise TaskError(f"{where}: a task must be a mapping with id, question and answer")
    for key in ("id", "question", "answer"):
        if not isinstance(d.get(key), str | int | float) or str(d.get(key)).strip() == "":
            raise TaskError(f"{where}: '{key}' is required (a non-empty string)")
    if d.get("verifier", "math") not in VERIFIERS:
        raise TaskError(f"{where}: verifier must be one of {VERIFIERS}, got {d.get('verifier')!r}")
    oracle = d.get("oracle") or []
    if not isinstance(oracle, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str)
                                               and isinstance(c.get("arguments", {}), dict) for c in oracle):
        raise TaskError(f"{where}: 'oracle' must be a list of {{name, arguments}} tool calls")
    tolerance = d.get("tolerance")
    try:
        tolerance = None if tolerance is None else float(tolerance)  # YAML reads "1e-6" as a string
    except (TypeError, ValueError) as e:
        raise TaskError(f"{where}: 'tolerance' must be a number, got {d.get('tolerance')!r}") from e
    tools = d.get("tools") or ["python"]
    return ToolTask(id=str(d["id"]), question=str(d["question"]).strip(), answer=str(d["answer"]).strip(),
                    verifier=d.get("verifier", "math"), tolerance=tolerance, tools=tuple(tools),
                    oracle=tuple(oracle), tags=tuple(d.get("tags") or ()))


def load_tool_tasks(path: str | Path) -> list[ToolTask]:
    """Tasks from a YAML file (a list), a JSONL file (one per line) or a folder of either."""
    p = Path(path)
    if p.is_dir():
        tasks = [t for f in sorted(p.iterdir()) if f.suffix in (".yaml", ".yml", ".jsonl")
                 for t in load_tool_tasks(f)]
    elif p.suffix == ".jsonl":
        tasks = [_task(obj, where) for where, obj in read_jsonl(p)]
    elif p.suffix in (".yaml", ".yml"):
        data = read_yaml(p)
        if not isinstance(data, list):
            raise TaskError(f"{p}: expected a YAML list of tasks")
        tasks = [_task(d, f"{p}[{i}]") for i, d in enumerate(data)]
    else:
        raise TaskError(f"{p}: expected a .yaml/.jsonl file or a folder of them")
    ids = [t.id for t in tasks]
    if len(set(ids)) != len(ids):
        raise TaskError(f"{p}: duplicate task ids {sorted({i for i in ids if ids.count(i) > 1})}")
    return tasks


def load_math_rows(rows: Any, question_key: str | None = None, answer_key: str | None = None,
                   limit: int | None = None) -> list[ToolTask]:
    """Tasks from DAPO-Math / GSM8K-style rows (any iterable of dicts, e.g. a ``datasets.Dataset``).

    GSM8K answers end with ``#### <number>``; DAPO-Math rows carry ``prompt``/``solution`` or
    ``reward_model.ground_truth``. Keys are detected when not given.
    """
    tasks = []
    for i, row in enumerate(rows):
        if limit is not None and i >= limit:
            break
        q_key = question_key or next((k for k in ("question", "problem", "prompt") if k in row), None)
        if q_key is None:
            raise TaskError(f"row {i}: no question column (tried question, problem, prompt); pass question_key=")
        question = row[q_key]
        if isinstance(question, list):  # chat-format prompt
            question = question[-1]["content"]
        if answer_key:
            answer = row[answer_key]
        elif "answer" in row:
            answer = str(row["answer"]).split("####")[-1]
        elif isinstance(row.get("reward_model"), dict) and "ground_truth" in row["reward_model"]:
            answer = row["reward_model"]["ground_truth"]
        elif "solution" in row:
            answer = row["solution"]
        else:
            raise TaskError(f"row {i}: no answer column (tried answer, reward_model.ground_truth, solution)")
        tasks.append(ToolTask(id=str(row.get("id", f"row-{i}")), question=str(question).strip(),
                              answer=str(answer).strip().replace(",", ""), verifier="math", tags=("dataset",)))
    return tasks


def load_hf_math(name: str = "openai/gsm8k", config: str | None = "main", split: str = "test",
                 limit: int | None = None, **kw: Any) -> list[ToolTask]:
    """Load GSM8K / DAPO-Math through ``datasets`` (downloads from the hub: for real users, not tests)."""
    import datasets

    return load_math_rows(datasets.load_dataset(name, config, split=split), limit=limit, **kw)
