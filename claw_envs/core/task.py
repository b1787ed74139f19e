"""Tasks: what an episode asks of the agent and how its outcome is checked.

Two on-disk formats load into the same ``Task``:

* **native YAML** (one file): ``id``, ``instruction``, optional ``files`` (path -> text), ``setup`` (bash),
  ``tests`` (a list of ``{name, run}`` bash checks; the outcome is the fraction that exit 0), ``solution``
  (oracle bash script), ``max_steps``, ``timeout``, ``tags``, ``difficulty``.
* **Harbor / terminal-bench folder**: ``instruction.md``, ``task.toml``, ``environment/Dockerfile``,
  ``tests/test.sh`` (writes ``/logs/verifier/reward.txt``), ``solution/solve.sh``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from claw_envs.core.errors import TaskError

_NATIVE_KEYS = {"id", "instruction", "files", "setup", "tests", "solution", "max_steps", "timeout", "tags",
                "difficulty", "test_timeout"}


@dataclass(frozen=True)
class Check:
    """One test of a native task: a bash snippet that passes when it exits 0."""

    name: str
    run: str


@dataclass(frozen=True)
class Task:
    """A loaded task. ``format`` is ``native`` or ``harbor``."""

    id: str
    instruction: str
    format: str = "native"
    files: dict[str, str] = field(default_factory=dict)
    setup: str = ""
    checks: tuple[Check, ...] = ()
    solution: str | None = None
    max_steps: int | None = None
    timeout: float | None = None  # per-command
    test_timeout: float = 120.0
    tags: tuple[str, ...] = ()
    difficulty: str | None = None
    source: Path | None = None
    # Harbor only
    dockerfile: Path | None = None
    tests_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _fail(path: Path, msg: str) -> TaskError:
    return TaskError(f"{path}: {msg}")


def load_native(path: Path) -> Task:
    data = read_yaml(path, "; see tasks/terminal/*.yaml for the format")
    if not isinstance(data, dict):
        raise _fail(path, "a task file must be a YAML mapping with at least 'instruction' and 'tests'")
    unknown = set(data) - _NATIVE_KEYS
    if unknown:
        raise _fail(path, f"unknown keys {sorted(unknown)}; allowed: {sorted(_NATIVE_KEYS)}")
    instruction = data.get("instruction")
    if not isinstance(instruction, str) or not instruction.strip():
        raise _fail(path, "'instruction' must be a non-empty string")
    raw_tests = data.get("tests")
    if not isinstance(raw_tests, list) or not raw_tests:
        raise _fail(path, "'tests' must be a non-empty list of {name, run} checks")
    checks = []
    for i, c in enumerate(raw_tests):
        if isinstance(c, str):
            c = {"name": f"test {i + 1}", "run": c}
        if not isinstance(c, dict) or not isinstance(c.get("run"), str):
            raise _fail(path, f"tests[{i}] must be a mapping with a 'run' bash snippet (and a 'name')")
        checks.append(Check(name=str(c.get("name") or f"test {i + 1}"), run=c["run"]))
    files = data.get("files") or {}
    if not isinstance(files, dict) or not all(isinstance(k, str) and k.startswith("/") and isinstance(v, str)
                                              for k, v in files.items()):
        raise _fail(path, "'files' must map absolute paths to text contents")
    for key in ("setup", "solution"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise _fail(path, f"'{key}' must be a bash script (a string)")
    return Task(id=str(data.get("id") or path.stem), instruction=instruction.strip(), format="native",
                files=files, setup=data.get("setup") or "", checks=tuple(checks), solution=data.get("solution"),
                max_steps=_opt_int(path, data, "max_steps"), timeout=_opt_num(path, data, "timeout"),
                test_timeout=_opt_num(path, data, "test_timeout") or 120.0,
                tags=tuple(data.get("tags") or ()), difficulty=data.get("difficulty"), source=path)


def load_harbor(folder: Path) -> Task:
    instr = folder / "instruction.md"
    if not instr.is_file():
        raise _fail(folder, "a Harbor task folder needs instruction.md")
    test_sh = folder / "tests" / "test.sh"
    if not test_sh.is_file():
        raise _fail(folder, "a Harbor task folder needs tests/test.sh")
    meta: dict[str, Any] = {}
    if (folder / "task.toml").is_file():
        try:
            meta = tomllib.loads((folder / "task.toml").read_text())
        except tomllib.TOMLDecodeError as e:
            raise _fail(folder, f"task.toml is not valid TOML ({e})") from e
    solve = folder / "solution" / "solve.sh"
    dockerfile = folder / "environment" / "Dockerfile"
    verifier = meta.get("verifier", {}) if isinstance(meta.get("verifier"), dict) else {}
    agent = meta.get("agent", {}) if isinstance(meta.get("agent"), dict) else {}
    md = meta.get("metadata", {}) if isinstance(meta.get("metadata"), dict) else {}
    return Task(id=folder.name, instruction=instr.read_text().strip(), format="harbor",
                solution=solve.read_text() if solve.is_file() else None,
                test_timeout=float(verifier.get("timeout_sec", 120.0)),
                timeout=float(agent["command_timeout_sec"]) if "command_timeout_sec" in agent else None,
                tags=tuple(md.get("tags", ())), difficulty=md.get("difficulty"), source=folder,
                dockerfile=dockerfile if dockerfile.is_file() else None, tests_dir=folder / "tests",
                extra={"task_toml": meta})


def load_task(path: str | Path) -> Task:
    """Load one task from a YAML file or a Harbor task folder."""
    p = Path(path)
    if p.is_dir():
        return load_harbor(p)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return load_native(p)
    raise TaskError(f"{p}: not a task (expected a .yaml file or a Harbor folder with instruction.md)")


def load_tasks(path: str | Path) -> list[Task]:
    """Load every task under ``path`` (a task file, a Harbor folder, or a directory of either), sorted by id."""
    p = Path(path)
    if not p.exists():
        raise TaskError(f"{p}: no such task file or directory")
    if p.is_file() or (p / "instruction.md").is_file():
        return [load_task(p)]
    tasks = [load_task(c) for c in sorted(p.iterdir())
             if c.suffix in (".yaml", ".yml") or (c.is_dir() and (c / "instruction.md").is_file())]
    if not tasks:
        raise TaskError(f"{p}: no tasks found (expected *.yaml files or Harbor folders with instruction.md)")
    ids = [t.id for t in tasks]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise TaskError(f"{p}: duplicate task ids {sorted(dup)}")
    return sorted(tasks, key=lambda t: t.id)


def read_yaml(path: str | Path, hint: str = "") -> Any:
    """The parsed YAML file; a syntax error raises ``TaskError`` naming the file (and ``hint``, if given)."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as e:
        raise TaskError(f"{path}: not valid YAML ({e}){hint}") from e


def read_jsonl(path: str | Path) -> Iterator[tuple[str, Any]]:
    """``(where, object)`` for each non-empty line of a JSONL file; bad JSON raises ``TaskError`` naming the line."""
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                yield f"{path}:{n}", json.loads(line)
            except json.JSONDecodeError as e:
                raise TaskError(f"{path}:{n}: not valid JSON ({e.msg})") from e


PROJECT_ROOT = Path(__file__).resolve().parents[2]


def builtin_tasks_dir(family: str) -> Path:
    """The folder of the project's built-in tasks for an env family (e.g. 'terminal')."""
    return PROJECT_ROOT / "tasks" / family


def project_path(path: str | Path) -> Path:
    """``path`` as given when it exists (relative to the working directory); else, for a relative path, the same
    path inside the project (``tasks/...``, ``configs/...``), so documented commands run from any directory."""
    p = Path(path).expanduser()
    if p.exists() or p.is_absolute():
        return p
    inside = PROJECT_ROOT / p
    return inside if inside.exists() else p


def _opt_int(path: Path, data: dict, key: str) -> int | None:
    v = data.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or v <= 0:
        raise _fail(path, f"'{key}' must be a positive integer, got {v!r}")
    return v


def _opt_num(path: Path, data: dict, key: str) -> float | None:
    v = data.get(key)
    if v is None:
        return None
    if not isinstance(v, int | float) or v <= 0:
        raise _fail(path, f"'{key}' must be a positive number of seconds, got {v!r}")
    return float(v)
