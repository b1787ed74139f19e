"""SWE-bench instances: the 5.x row format, loaded from the project's folders, JSONL, or `datasets` rows.

A project instance folder (``tasks/swe/<instance_id>/``) holds ``repo/`` (the library at the buggy base
state), ``fix.patch`` (gold), ``test.patch`` and ``meta.yaml`` (problem statement, FAIL_TO_PASS,
PASS_TO_PASS, version). Rows from SWE-bench Verified / SWE-Gym carry the same fields, but their repositories
live in SWE-bench's images (docker backend).

Rows written by ``claw swe build`` add ``claw_*`` keys that make them runnable on the local backend:
``claw_source`` (the repository tree; a ``.git`` in it is kept, so ``base_commit`` is its real commit),
``claw_setup_patch`` (committed on top of the source to form ``base_commit``: a synthesized bug),
``claw_deps`` (a folder of installed dependencies, made importable in the sandbox), ``claw_pythonpath``
(repository folders put first on ``sys.path``, e.g. ``src``) and ``claw_meta`` (provenance and difficulty).
Relative paths are relative to the JSONL file's folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claw_envs.core.errors import TaskError
from claw_envs.core.task import read_jsonl, read_yaml

REQUIRED = ("instance_id", "repo", "problem_statement", "FAIL_TO_PASS", "PASS_TO_PASS")


@dataclass(frozen=True)
class SWEInstance:
    instance_id: str
    repo: str
    problem_statement: str
    FAIL_TO_PASS: tuple[str, ...]
    PASS_TO_PASS: tuple[str, ...]
    patch: str = ""
    test_patch: str = ""
    base_commit: str = ""
    version: str = "1.0"
    log_parser: str = "parse_log_pytest"
    eval_type: str = "pass_and_fail"
    eval_script: str | None = None
    source: Path | None = None  # a local repo tree (project instances)
    extra: dict[str, Any] = field(default_factory=dict)
    setup_patch: str = ""  # applied to ``source`` and committed: the result is base_commit
    deps: Path | None = None  # installed dependencies, importable in the sandbox
    pythonpath: tuple[str, ...] = ()  # repository folders first on sys.path (e.g. "src")

    @property
    def test_files(self) -> list[str]:
        """Test files named by the FAIL_TO_PASS/PASS_TO_PASS node ids."""
        return sorted({t.split("::")[0] for t in self.FAIL_TO_PASS + self.PASS_TO_PASS})

    def row(self) -> dict[str, Any]:
        """The instance as a SWE-bench 5.x row."""
        return {"instance_id": self.instance_id, "repo": self.repo, "base_commit": self.base_commit,
                "problem_statement": self.problem_statement, "patch": self.patch, "test_patch": self.test_patch,
                "FAIL_TO_PASS": list(self.FAIL_TO_PASS), "PASS_TO_PASS": list(self.PASS_TO_PASS),
                "version": self.version, "log_parser": self.log_parser, "eval_type": self.eval_type,
                "eval_script": self.eval_script}

    def claw_row(self, relative_to: Path | None = None) -> dict[str, Any]:
        """``row()`` plus the ``claw_*`` keys (paths relative to ``relative_to`` when they lie under it)."""
        def rel(p: Path | None) -> str | None:
            if p is None:
                return None
            if relative_to is not None:
                try:
                    return str(Path(p).resolve().relative_to(Path(relative_to).resolve()))
                except ValueError:
                    pass
            return str(Path(p).resolve())

        return {**self.row(), "claw_source": rel(self.source), "claw_setup_patch": self.setup_patch,
                "claw_deps": rel(self.deps), "claw_pythonpath": list(self.pythonpath),
                "claw_meta": self.extra.get("meta", {})}


def _tests(value: Any, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):  # SWE-bench stores these lists as JSON strings
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise TaskError(f"{where}: {key} is not a JSON list ({e.msg})") from e
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise TaskError(f"{where}: {key} must be a list of test ids")
    return tuple(value)


def _path(value: Any, base: Path | None, where: str, key: str) -> Path | None:
    if not value:
        return None
    p = Path(str(value))
    if not p.is_absolute() and base is not None:
        p = base / p
    if not p.exists():
        raise TaskError(f"{where}: {key} {str(p)!r} does not exist (paths are relative to the JSONL's folder)")
    return p


def from_row(row: dict[str, Any], where: str = "row", source: Path | None = None,
             base: Path | None = None) -> SWEInstance:
    """An instance from a SWE-bench row (``claw_*`` keys included; relative paths resolved against ``base``)."""
    missing = [k for k in REQUIRED if k not in row]
    if missing:
        raise TaskError(f"{where}: missing SWE-bench fields {missing}")
    pythonpath = row.get("claw_pythonpath") or []
    if not isinstance(pythonpath, list) or not all(isinstance(x, str) and not x.startswith("/") and ".." not in x
                                                    for x in pythonpath):
        raise TaskError(f"{where}: claw_pythonpath must be a list of repository-relative folders")
    return SWEInstance(
        instance_id=str(row["instance_id"]), repo=str(row["repo"]), problem_statement=str(row["problem_statement"]),
        FAIL_TO_PASS=_tests(row["FAIL_TO_PASS"], where, "FAIL_TO_PASS"),
        PASS_TO_PASS=_tests(row["PASS_TO_PASS"], where, "PASS_TO_PASS"), patch=row.get("patch") or "",
        test_patch=row.get("test_patch") or "", base_commit=row.get("base_commit") or "",
        version=str(row.get("version") or "1.0"), log_parser=row.get("log_parser") or "parse_log_pytest",
        eval_type=row.get("eval_type") or "pass_and_fail", eval_script=row.get("eval_script"),
        source=source or _path(row.get("claw_source"), base, where, "claw_source"),
        setup_patch=row.get("claw_setup_patch") or "", deps=_path(row.get("claw_deps"), base, where, "claw_deps"),
        pythonpath=tuple(pythonpath), extra={"meta": row["claw_meta"]} if row.get("claw_meta") else {})


def load_folder(folder: Path) -> SWEInstance:
    meta_path = folder / "meta.yaml"
    for needed in ("meta.yaml", "repo", "fix.patch", "test.patch"):
        if not (folder / needed).exists():
            raise TaskError(f"{folder}: an instance folder needs {needed}")
    meta = read_yaml(meta_path)
    if not isinstance(meta, dict):
        raise TaskError(f"{meta_path}: expected a mapping")
    row = {**meta, "patch": (folder / "fix.patch").read_text(), "test_patch": (folder / "test.patch").read_text()}
    inst = from_row(row, str(meta_path), source=folder / "repo")
    if inst.instance_id != folder.name:
        raise TaskError(f"{meta_path}: instance_id {inst.instance_id!r} must match the folder name {folder.name!r}")
    return inst


def load_instances(path: str | Path) -> list[SWEInstance]:
    """Instances from a folder of instance folders, one instance folder, or a JSONL file of rows."""
    p = Path(path)
    if p.suffix == ".jsonl":
        return [from_row(obj, where, base=p.parent) for where, obj in read_jsonl(p)]
    if (p / "meta.yaml").is_file():
        return [load_folder(p)]
    if not p.is_dir():
        raise TaskError(f"{p}: no such instance folder or JSONL file")
    out = [load_folder(c) for c in sorted(p.iterdir()) if (c / "meta.yaml").is_file()]
    if not out:
        raise TaskError(f"{p}: no instances found (folders with meta.yaml)")
    return out


def load_hf_instances(name: str = "princeton-nlp/SWE-bench_Verified", split: str = "test",
                      limit: int | None = None) -> list[SWEInstance]:
    """SWE-bench Verified / SWE-Gym rows through ``datasets`` (downloads: for real users, not tests)."""
    import datasets

    ds = datasets.load_dataset(name, split=split)
    return [from_row(dict(r), f"{name}[{i}]") for i, r in enumerate(ds) if limit is None or i < limit]
