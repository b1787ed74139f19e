"""Procedural bugs: AST-located mutations of one function, applied as minimal text edits.

Each operator finds sites inside a function's own body (nested functions and classes are their own
functions) and edits only the site's characters, so the rest of the file keeps its formatting and comments.
A mutation is kept only if the edited file still parses and its AST differs from the original's.

Operators: ``negate_condition``, ``comparison``, ``arithmetic``, ``boolean``, ``off_by_one`` (range stops, slice
bounds, constant indexes), ``swap_args``, ``drop_statement``, ``drop_return``, ``constant``, ``swap_branches``.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass

OPERATORS = ("negate_condition", "comparison", "arithmetic", "boolean", "off_by_one", "swap_args",
             "drop_statement", "drop_return", "constant", "swap_branches")


@dataclass(frozen=True)
class Mutation:
    """One candidate bug: ``text`` is the whole mutated file."""

    path: str  # repository-relative
    function: str  # qualified name
    operator: str
    line: int
    description: str
    text: str
    func_line: int = 0  # the function's first line (its first decorator's, as in code objects)

    def bug_patch(self, original: str) -> str:
        """original -> mutated (the setup patch that introduces the bug)."""
        return unified_diff(self.path, original, self.text)

    def fix_patch(self, original: str) -> str:
        """mutated -> original (the gold patch)."""
        return unified_diff(self.path, self.text, original)


def unified_diff(path: str, before: str, after: str) -> str:
    """A ``git apply``-able diff of one file."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    lines = list(difflib.unified_diff(a, b, f"a/{path}", f"b/{path}", n=3))
    out = []
    for ln in lines:
        if ln.endswith("\n"):
            out.append(ln)
        else:
            out.append(ln + "\n\\ No newline at end of file\n")
    return f"diff --git a/{path} b/{path}\n" + "".join(out) if out else ""


class _Text:
    """Character offsets for the AST's (line, UTF-8 byte column) positions."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for ln in self.lines:
            self.starts.append(self.starts[-1] + len(ln))

    def off(self, line: int, col: int) -> int:
        raw = self.lines[line - 1].encode()[:col]
        return self.starts[line - 1] + len(raw.decode(errors="replace"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.off(node.lineno, node.col_offset), self.off(node.end_lineno, node.end_col_offset)

    def src(self, node: ast.AST) -> str:
        a, b = self.span(node)
        return self.text[a:b]


_CMP = {ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"), ast.Gt: (">", ">="), ast.GtE: (">=", ">"),
        ast.Eq: ("==", "!="), ast.NotEq: ("!=", "=="), ast.In: ("in", "not in"), ast.NotIn: ("not in", "in"),
        ast.Is: ("is", "is not"), ast.IsNot: ("is not", "is")}
_CMP_RE = {"<": r"(?<![<>=!])<(?![<=])", "<=": r"<=", ">": r"(?<![<>=-])>(?![>=])", ">=": r">=",
           "==": r"==", "!=": r"!=", "in": r"(?<!not )\bin\b", "not in": r"\bnot\s+in\b",
           "is": r"\bis\b(?!\s+not\b)", "is not": r"\bis\s+not\b"}
_ARITH = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"), ast.Div: ("/", "*"),
          ast.FloorDiv: ("//", "/"), ast.Mod: ("%", "//"), ast.LShift: ("<<", ">>"), ast.RShift: (">>", "<<"),
          ast.BitAnd: ("&", "|"), ast.BitOr: ("|", "&")}
_ARITH_RE = {"+": r"(?<![+*/=e])\+(?![+=])", "-": r"(?<![-=e])-(?![-=>])", "*": r"(?<!\*)\*(?![*=])",
             "/": r"(?<!/)/(?![/=])", "//": r"//(?!=)", "%": r"%(?!=)", "<<": r"<<(?!=)", ">>": r">>(?!=)",
             "&": r"&(?!=)", "|": r"\|(?!=)"}
_SIMPLE = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant)


def _strip_comments(s: str) -> str:
    return re.sub(r"#[^\n]*", lambda m: " " * len(m.group()), s)


def _one_match(text: str, pattern: str) -> tuple[int, int] | None:
    ms = list(re.finditer(pattern, _strip_comments(text)))
    return (ms[0].start(), ms[0].end()) if len(ms) == 1 else None


def _paren(s: str, node: ast.AST) -> str:
    return s if isinstance(node, _SIMPLE) else f"({s})"


def _own_nodes(fn: ast.AST) -> Iterator[ast.AST]:
    """Nodes of ``fn``'s body, not descending into nested functions, lambdas or classes."""
    stack = list(reversed(fn.body))
    while stack:
        node = stack.pop()
        yield node
        for child in reversed(list(ast.iter_child_nodes(node))):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                stack.append(child)


def functions(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """(qualified name, node) of every function and method."""
    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.AST]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                q = f"{prefix}{child.name}"
                yield q, child
                yield from walk(child, f"{q}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)
    yield from walk(tree, "")


def _is_docstring(fn: ast.AST, stmt: ast.AST) -> bool:
    return (stmt is fn.body[0] and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str))


def _blocks(fn: ast.AST) -> Iterator[list[ast.stmt]]:
    yield fn.body
    for node in _own_nodes(fn):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt) and node is not fn:
                yield block
        for h in getattr(node, "handlers", []) or []:
            yield h.body


def _sites(fn: ast.AST, t: _Text) -> Iterator[tuple[str, int, str, list[tuple[int, int, str]]]]:
    """(operator, line, description, edits) for every mutation site of ``fn``; edits are (start, end, text)."""
    for node in _own_nodes(fn):
        line = getattr(node, "lineno", fn.lineno)
        if isinstance(node, (ast.If, ast.While, ast.IfExp)):
            test = node.test
            txt = t.src(test)
            if not ("__name__" in txt or "TYPE_CHECKING" in txt):
                a, b = t.span(test)
                if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                    new = _paren(t.src(test.operand), test.operand)
                else:
                    new = f"not {_paren(txt, test)}"
                yield "negate_condition", line, f"condition `{txt}` inverted", [(a, b, new)]
        if isinstance(node, ast.Compare):
            op = type(node.ops[0])
            if op in _CMP:
                old, new = _CMP[op]
                lo, hi = t.span(node.left)[1], t.span(node.comparators[0])[0]
                m = _one_match(t.text[lo:hi], _CMP_RE[old])
                if m:
                    yield "comparison", line, f"`{old}` -> `{new}`", [(lo + m[0], lo + m[1], new)]
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            strings = (ast.JoinedStr,)
            if not any(isinstance(x, strings) or (isinstance(x, ast.Constant) and isinstance(x.value, (str, bytes)))
                       for x in (node.left, node.right)):
                old, new = _ARITH[type(node.op)]
                lo, hi = t.span(node.left)[1], t.span(node.right)[0]
                m = _one_match(t.text[lo:hi], _ARITH_RE[old])
                if m:
                    yield "arithmetic", line, f"`{old}` -> `{new}`", [(lo + m[0], lo + m[1], new)]
        if isinstance(node, ast.AugAssign) and type(node.op) in (ast.Add, ast.Sub):
            old, new = _ARITH[type(node.op)]
            lo, hi = t.span(node.target)[1], t.span(node.value)[0]
            m = _one_match(t.text[lo:hi], re.escape(old + "="))
            if m:
                yield "arithmetic", line, f"`{old}=` -> `{new}=`", [(lo + m[0], lo + m[1], new + "=")]
        if isinstance(node, ast.BoolOp) and len(node.values) >= 2:
            old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            lo, hi = t.span(node.values[0])[1], t.span(node.values[1])[0]
            m = _one_match(t.text[lo:hi], rf"\b{old}\b")
            if m:
                yield "boolean", line, f"`{old}` -> `{new}`", [(lo + m[0], lo + m[1], new)]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
                and node.args and not node.keywords and len(node.args) <= 2):
            stop = node.args[-1]
            a, b = t.span(stop)
            yield "off_by_one", line, "range stop - 1", [(a, b, f"{_paren(t.src(stop), stop)} - 1")]
        if isinstance(node, ast.Slice):
            if node.upper is not None:
                a, b = t.span(node.upper)
                yield "off_by_one", line, "slice end - 1", [(a, b, f"{_paren(t.src(node.upper), node.upper)} - 1")]
            if node.lower is not None:
                a, b = t.span(node.lower)
                yield "off_by_one", line, "slice start + 1", [(a, b, f"{_paren(t.src(node.lower), node.lower)} + 1")]
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and \
                type(node.slice.value) is int:
            v = node.slice.value
            a, b = t.span(node.slice)
            yield "off_by_one", line, "index shifted", [(a, b, str(v + 1 if v >= 0 else v - 1))]
        if isinstance(node, ast.Call) and len(node.args) >= 2 and not any(isinstance(x, ast.Starred)
                                                                          for x in node.args[:2]):
            name = node.func.id if isinstance(node.func, ast.Name) else ""
            x, y = node.args[:2]
            if name not in ("isinstance", "issubclass", "getattr", "setattr", "hasattr") and t.src(x) != t.src(y):
                (xa, xb), (ya, yb) = t.span(x), t.span(y)
                yield "swap_args", line, "first two arguments swapped", [(xa, xb, t.src(y)), (ya, yb, t.src(x))]
        if isinstance(node, ast.Constant) and not isinstance(node.value, str) and node.value is not None:
            v = node.value
            if isinstance(v, bool):
                new = str(not v)
            elif type(v) is int:
                new = str(0 if v == 1 else v + 1)
            else:
                continue
            a, b = t.span(node)
            yield "constant", line, f"`{t.src(node)}` -> `{new}`", [(a, b, new)]
        if isinstance(node, ast.IfExp):
            (ba, bb), (oa, ob) = t.span(node.body), t.span(node.orelse)
            yield "swap_branches", line, "conditional expression branches swapped", \
                [(ba, bb, t.src(node.orelse)), (oa, ob, t.src(node.body))]
        if isinstance(node, ast.If) and node.orelse and node.body[0].lineno > node.test.end_lineno:
            if not (len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If)
                    and t.lines[node.orelse[0].lineno - 1].lstrip().startswith("elif")):
                else_line = next((i for i in range(node.body[-1].end_lineno + 1, node.orelse[0].lineno)
                                  if re.match(r"^\s*else\s*:\s*(#.*)?$", t.lines[i - 1])), None)
                if else_line is not None and node.orelse[0].lineno > else_line:
                    body = "".join(t.lines[node.test.end_lineno:else_line - 1])
                    other = "".join(t.lines[else_line:node.orelse[-1].end_lineno])
                    start, mid = t.starts[node.test.end_lineno], t.starts[else_line - 1]
                    after_else, end = t.starts[else_line], t.starts[node.orelse[-1].end_lineno]
                    yield "swap_branches", line, "if/else branches swapped", \
                        [(start, mid, other), (after_else, end, body)]
    for block in _blocks(fn):
        for stmt in block:
            if _is_docstring(fn, stmt):
                continue
            dropped = None
            if isinstance(stmt, ast.Return) and not (block is fn.body and stmt is block[-1]):
                dropped = "drop_return"
            elif isinstance(stmt, (ast.AugAssign, ast.Continue, ast.Break)) or \
                    (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)) or \
                    (isinstance(stmt, ast.Assign) and all(isinstance(x, (ast.Attribute, ast.Subscript))
                                                          for x in stmt.targets)):
                dropped = "drop_statement"
            if dropped is None:
                continue
            first = t.lines[stmt.lineno - 1]
            last = t.lines[stmt.end_lineno - 1]
            indent = first[:len(first) - len(first.lstrip())]
            if first[:stmt.col_offset].strip() or _strip_comments(last.encode()[stmt.end_col_offset:].decode(
                    errors="replace")).strip():
                continue  # shares its line with other code
            a, b = t.starts[stmt.lineno - 1], t.starts[stmt.end_lineno]
            alone = len([s for s in block if not _is_docstring(fn, s)]) == 1
            nl = "\n" if not last.endswith("\n") else ""
            yield dropped, stmt.lineno, f"`{t.src(stmt).splitlines()[0][:60]}` removed", \
                [(a, b, f"{indent}pass\n" + nl if alone else nl)]


def mutations(path: str, text: str, lines: set[int] | None = None) -> Iterator[Mutation]:
    """Every mutation of the functions of ``text`` (those whose ``def`` or first decorator line is in
    ``lines``, when given) that parses and changes the AST."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return
    t = _Text(text)
    original = ast.dump(tree)
    for qual, fn in functions(tree):
        first = fn.decorator_list[0].lineno if fn.decorator_list else fn.lineno
        if lines is not None and fn.lineno not in lines and first not in lines:
            continue
        for op, line, desc, edits in _sites(fn, t):
            new = text
            for a, b, rep in sorted(edits, reverse=True):
                new = new[:a] + rep + new[b:]
            try:
                mutated = ast.parse(new)
            except SyntaxError:
                continue
            if ast.dump(mutated) != original:
                yield Mutation(path, qual, op, line, desc, new, first)
