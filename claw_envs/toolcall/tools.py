"""Tools for claw/ToolCall-v0: declared as OpenAI function schemas, executed with validated arguments.

``function_tool(fn)`` turns a plain Python function with type hints and a Google-style docstring into a
``Tool`` (as TRL does for ``environment_factory``). The built-in ``python`` and ``bash`` tools run the
model's code in the project sandbox (never in the host process); ``query_db`` filters a bundled JSON
database in pure Python (no code from the model is executed).
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claw_envs.sandbox.base import ExecResult, Sandbox

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}
_PY_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list,
             "object": dict}


class ToolArgumentError(ValueError):
    """The model called a tool with arguments that do not match its schema."""


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., str]

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool schema."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        props = self.parameters.get("properties", {})
        unknown = sorted(set(args) - set(props))
        if unknown:
            raise ToolArgumentError(f"{self.name}: unknown argument(s) {unknown}; expected {sorted(props)}")
        missing = [p for p in self.parameters.get("required", []) if p not in args]
        if missing:
            raise ToolArgumentError(f"{self.name}: missing required argument(s) {missing}")
        for key, value in args.items():
            want = props[key].get("type")
            ok = want is None or (isinstance(value, _PY_TYPES[want]) and not (
                want in ("integer", "number") and isinstance(value, bool)))
            if want == "number" and isinstance(value, str):
                ok = False
            if not ok:
                raise ToolArgumentError(f"{self.name}: argument {key!r} must be {want}, got {type(value).__name__}")
        return args

    def __call__(self, **kwargs: Any) -> str:
        return self.fn(**self.validate(kwargs))


def _json_type(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _json_type(inner[0]) if len(inner) == 1 else {}
    if origin is typing.Literal:
        vals = list(typing.get_args(annotation))
        return {"type": _JSON_TYPES.get(type(vals[0]), "string"), "enum": vals}
    if origin in (list, tuple):
        return {"type": "array"}
    if origin is dict:
        return {"type": "object"}
    if annotation in _JSON_TYPES:
        return {"type": _JSON_TYPES[annotation]}
    return {}


def _doc_args(doc: str) -> tuple[str, dict[str, str]]:
    summary = doc.split("\n\n")[0].strip().replace("\n", " ")
    args: dict[str, str] = {}
    m = re.search(r"^\s*(Args|Arguments|Parameters):\s*$(.*?)(^\s*(Returns|Raises|Yields|Examples?):|\Z)",
                  doc, re.M | re.S)
    if m:
        for line in m.group(2).splitlines():
            am = re.match(r"\s*(\w+)\s*(\(.*?\))?\s*:\s*(.+)", line)
            if am:
                args[am.group(1)] = am.group(3).strip()
    return summary, args


def function_tool(fn: Callable[..., Any], name: str | None = None) -> Tool:
    """A ``Tool`` from a typed, documented Python function. Its return value is shown to the model as text."""
    doc = inspect.getdoc(fn) or ""
    if not doc:
        raise ValueError(f"tool function {fn.__name__!r} needs a docstring (it becomes the tool description)")
    summary, arg_docs = _doc_args(doc)
    hints = typing.get_type_hints(fn)
    props, required = {}, []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        prop = _json_type(hints.get(p.name, Any))
        if p.name in arg_docs:
            prop["description"] = arg_docs[p.name]
        props[p.name] = prop
        if p.default is inspect.Parameter.empty:
            required.append(p.name)

    def call(**kwargs: Any) -> str:
        out = fn(**kwargs)
        return out if isinstance(out, str) else json.dumps(out, default=str)

    return Tool(name=name or fn.__name__, description=summary,
                parameters={"type": "object", "properties": props, "required": required}, fn=call)


def format_exec(r: ExecResult, timeout: float) -> str:
    out = r.output.rstrip("\n")
    notes = []
    if r.truncated:
        notes.append("[output truncated]")
    if r.timed_out:
        notes.append(f"[timed out after {timeout:g} s; the process was killed]")
    elif r.exit_code != 0:
        notes.append(f"[exit code: {r.exit_code}]")
    return "\n".join([p for p in [out, *notes] if p]) or "(no output)"


def python_tool(sandbox: Callable[[], Sandbox], timeout: float = 10.0) -> Tool:
    """Run Python code in the sandbox (a fresh interpreter per call); returns stdout and stderr."""

    def python(code: str) -> str:
        r = sandbox().exec("exec python3 -u -", timeout=timeout, stdin=code.encode(), cwd="/tmp")
        return format_exec(r, timeout)

    return Tool("python", "Run a Python 3 program and return what it prints (use print()). Each call starts "
                "a fresh interpreter; the standard library is available, the network is not.",
                {"type": "object", "properties": {"code": {"type": "string", "description": "Python source"}},
                 "required": ["code"]}, python)


def bash_tool(sandbox: Callable[[], Sandbox], timeout: float = 10.0) -> Tool:
    def bash(command: str) -> str:
        return format_exec(sandbox().exec(command, timeout=timeout, cwd="/tmp"), timeout)

    return Tool("bash", "Run a bash command and return its output. No network.",
                {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}, bash)


def query_db_tool(db: dict[str, list[dict[str, Any]]] | str | Path) -> Tool:
    """``query_db(table, where, fields, order_by, descending, limit)`` over a JSON database of tables."""
    data = json.loads(Path(db).read_text()) if isinstance(db, str | Path) else db

    def query_db(table: str, where: dict | None = None, fields: list | None = None, order_by: str | None = None,
                 descending: bool = False, limit: int | None = None) -> str:
        if table not in data:
            raise ToolArgumentError(f"query_db: no table {table!r}; tables: {sorted(data)}")
        rows = data[table]
        columns = sorted({k for r in rows for k in r})
        for col in list(where or {}) + list(fields or []) + ([order_by] if order_by else []):
            if col not in columns:
                raise ToolArgumentError(f"query_db: table {table!r} has no column {col!r}; columns: {columns}")
        rows = [r for r in rows if all(r.get(k) == v for k, v in (where or {}).items())]
        if order_by:
            rows = sorted(rows, key=lambda r: (r.get(order_by) is None, r.get(order_by)), reverse=descending)
        if limit is not None:
            rows = rows[:max(int(limit), 0)]
        if fields:
            rows = [{k: r.get(k) for k in fields} for r in rows]
        return json.dumps(rows)

    return Tool("query_db", "Query the database: rows of `table` whose columns equal the values in `where` "
                "(an object), keeping `fields` (a list of column names, default all), sorted by `order_by` "
                "(ascending unless `descending` is true), at most `limit` rows. Tables: "
                + ", ".join(f"{t} ({', '.join(sorted({k for r in rows for k in r}))})" for t, rows in data.items()),
                {"type": "object", "properties": {
                    "table": {"type": "string"}, "where": {"type": "object"}, "fields": {"type": "array"},
                    "order_by": {"type": "string"}, "descending": {"type": "boolean"},
                    "limit": {"type": "integer"}}, "required": ["table"]}, query_db)
