"""Problem statements written from the failing behaviour: which tests fail, how, and a reproduction.

The text names the failing tests, quotes the assertion / exception lines pytest printed (its ``E`` lines,
never the library's source lines around them), shows the first failing test's own code as a minimal
reproduction and the command to run it. It is checked not to contain any line the gold patch adds.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

MAX_TESTS = 8


def _test_source(root: Path, nodeid: str, max_lines: int = 40) -> str:
    """The source of the test function ``nodeid`` names (class methods too), or ''."""
    parts = nodeid.split("::")
    path = root / parts[0]
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError, UnicodeDecodeError):
        return ""
    names = [re.sub(r"\[.*$", "", p) for p in parts[1:]]
    scope: list[ast.stmt] = tree.body
    node = None
    for name in names:
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.name == name), None)
        if node is None:
            return ""
        scope = node.body
    if node is None or isinstance(node, ast.ClassDef):
        return ""
    text = ast.get_source_segment(path.read_text(), node, padded=True) or ""
    lines = text.splitlines()
    if len(lines) > max_lines:
        lines = lines[:max_lines] + ["    ..."]
    indent = min((len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()), default=0)
    return "\n".join(ln[indent:] for ln in lines)


def error_lines(longrepr: str, limit: int = 12) -> list[str]:
    """pytest's ``E`` lines of a failure, and its final ``file:line: Error`` location when it is a test's."""
    out = [ln.rstrip() for ln in longrepr.splitlines() if ln.startswith("E ")]
    return out[:limit] + (["E   ..."] if len(out) > limit else [])


def _added_lines(patch: str) -> set[str]:
    return {ln[1:].strip() for ln in patch.splitlines()
            if ln.startswith("+") and not ln.startswith("+++") and len(ln[1:].strip()) >= 4}


def write_statement(root: Path, failing: list[str], messages: dict[str, str], gold_patch: str,
                    context: str = "") -> str:
    """The problem statement for tests ``failing`` (their failure texts in ``messages``); ``root`` holds the
    test files. ``context`` (e.g. an issue text given by the user) goes first."""
    first = failing[0]
    errs = error_lines(messages.get(first, ""))
    headline = next((e[1:].strip() for e in errs if e[1:].strip()), "the test fails")
    title = f"{'A test fails' if len(failing) == 1 else f'{len(failing)} tests fail'}: {headline[:120]}"
    parts = [context.strip()] if context.strip() else []
    parts.append(title)
    listed = "\n".join(f"- `{t}`" for t in failing[:MAX_TESTS])
    more = f"\n- ... and {len(failing) - MAX_TESTS} more" if len(failing) > MAX_TESTS else ""
    parts.append(f"These tests fail:\n{listed}{more}")
    if errs:
        parts.append(f"`{first}` fails with:\n```\n" + "\n".join(errs) + "\n```")
    src = _test_source(root, first)
    if src:
        parts.append(f"Reproduction (the test's code):\n```python\n{src}\n```")
    parts.append(f"Run it with `python -m pytest {first.split('[')[0] if ' ' in first else first}`.")
    parts.append("Expected: these tests pass. Fix the library code; the tests are correct.")
    text = "\n\n".join(parts) + "\n"
    leaked = [ln for ln in _added_lines(gold_patch) if ln in text]
    if leaked:  # a line of the fix appears verbatim (e.g. in the test's own code): drop the lines holding it
        text = "\n".join(ln for ln in text.splitlines() if not any(x in ln for x in leaked)) + "\n"
    return text
