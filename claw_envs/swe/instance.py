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
import os
import re
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
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


_ID = re.compile(rb'"instance_id"\s*:\s*"((?:[^"\\]|\\.)*)"')
_CHUNK = 1 << 20


class LazyInstances(Sequence):
    """The rows of a JSONL dataset as a read-only sequence of ``SWEInstance``, parsed one at a time.

    Construction scans the file once for line starts (a byte-offset index in an ``array``, 8 bytes a row; no
    row is parsed, except the first, to fail early on a file that is not SWE rows). ``self[k]`` seeks to row
    ``k``, reads that one line and parses it (the last ``cache`` rows parsed are kept). Looking an id up
    (``ids`` / ``by_id``) builds an id -> row map on first use by reading each line's ``instance_id`` with a
    regular expression (no JSON parse); the parsed row's id is checked against it. ``only`` restricts the rows
    to those ids (unknown ids are a ``TaskError``).
    """

    def __init__(self, path: str | Path, only: list[str] | None = None, cache: int = 32):
        self.path = Path(path)
        self.base = self.path.parent
        self._offsets = array("q")
        self._stat = None
        self._ids: dict[str, int] | None = None
        self._parsed: OrderedDict[int, SWEInstance] = OrderedDict()
        self._cache = cache
        self._index()
        if only is not None:
            by_id = self.ids()
            missing = sorted(set(only) - set(by_id))
            if missing:
                raise TaskError(f"unknown task ids {missing[:20]}{' ...' if len(missing) > 20 else ''} "
                                f"({len(by_id)} in {self.path})")
            keep = set(only)
            rows = [k for k in range(len(self._offsets)) if self._line_id(k) in keep]
            self._offsets = array("q", [self._offsets[k] for k in rows])
            self._ids = None
        if len(self._offsets):
            self[0]  # one parse: a file of something else fails here, not at the first reset

    def _index(self) -> None:
        starts = array("q")
        pos, at_line_start = 0, True
        with open(self.path, "rb") as f:
            self._stat = os.fstat(f.fileno())
            while chunk := f.read(_CHUNK):
                i = 0
                while True:
                    if at_line_start:
                        # skip blank lines: a line is a row when it has a non-space byte
                        j = i
                        while j < len(chunk) and chunk[j] in b" \t\r\n":
                            j += 1
                        if j == len(chunk):
                            break  # the rest of the chunk is blank: still at a line start
                        starts.append(pos + j)
                        at_line_start = False
                        i = j
                    nl = chunk.find(b"\n", i)
                    if nl < 0:
                        break
                    i, at_line_start = nl + 1, True
                pos += len(chunk)
        self._offsets = starts

    def __len__(self) -> int:
        return len(self._offsets)

    def _line(self, k: int) -> bytes:
        with open(self.path, "rb") as f:
            st = os.fstat(f.fileno())
            if (st.st_size, st.st_mtime_ns) != (self._stat.st_size, self._stat.st_mtime_ns):
                raise TaskError(f"{self.path} changed since it was indexed; make the env again")
            f.seek(self._offsets[k])
            return f.readline()

    def _line_id(self, k: int) -> str | None:
        line = self._line(k)
        m = _ID.search(line, 0, 4096) or _ID.search(line)
        return json.loads(b'"' + m.group(1) + b'"') if m else None

    def __getitem__(self, k):  # noqa: ANN001 - int or slice, as a Sequence
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(k)
        if k in self._parsed:
            self._parsed.move_to_end(k)
            return self._parsed[k]
        line = self._line(k)
        where = f"{self.path} (row {k})"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise TaskError(f"{where}: not valid JSON ({e.msg})") from e
        inst = from_row(obj, where, base=self.base)
        if self._ids is not None and self._ids.get(inst.instance_id) != k:
            raise TaskError(f"{where}: instance_id {inst.instance_id!r} does not match the index")
        self._parsed[k] = inst
        while len(self._parsed) > self._cache:
            self._parsed.popitem(last=False)
        return inst

    def __iter__(self) -> Iterator[SWEInstance]:
        return (self[k] for k in range(len(self)))

    def ids(self) -> dict[str, int]:
        """instance_id -> row, built on first use (each line read once, no JSON parse)."""
        if self._ids is None:
            ids: dict[str, int] = {}
            for k in range(len(self._offsets)):
                i = self._line_id(k)
                if i is None:
                    raise TaskError(f"{self.path} (row {k}): no instance_id")
                if i in ids:
                    raise TaskError(f"{self.path}: instance_id {i!r} in rows {ids[i]} and {k}")
                ids[i] = k
            self._ids = ids
        return self._ids

    def by_id(self) -> Mapping[str, SWEInstance]:
        return _ById(self)


class _ById(Mapping):
    """``instance_id -> SWEInstance`` over a ``LazyInstances`` (rows parsed on access)."""

    def __init__(self, rows: LazyInstances):
        self.rows = rows

    def __getitem__(self, key: str) -> SWEInstance:
        return self.rows[self.rows.ids()[key]]

    def __contains__(self, key: object) -> bool:
        return key in self.rows.ids()

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows.ids())

    def __len__(self) -> int:
        return len(self.rows)


def load_hf_instances(name: str = "princeton-nlp/SWE-bench_Verified", split: str = "test",
                      limit: int | None = None) -> list[SWEInstance]:
    """SWE-bench Verified / SWE-Gym rows through ``datasets`` (downloads: for real users, not tests)."""
    import datasets

    ds = datasets.load_dataset(name, split=split)
    return [from_row(dict(r), f"{name}[{i}]") for i, r in enumerate(ds) if limit is None or i < limit]
