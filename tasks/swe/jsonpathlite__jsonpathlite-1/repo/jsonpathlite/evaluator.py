"""Evaluation of parsed paths against Python data."""

import operator

from .errors import JSONPathError
from .parser import (And, Child, Compare, Descend, Filter, Index, Literal, Not,
                     Or, Relative, Slice, Wildcard, parse)

__all__ = ["JSONPath", "compile", "query", "query_paths", "first"]

_MISSING = object()

_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _is_array(value):
    return isinstance(value, (list, tuple))


def _children(value):
    """Yield ``(key, child)`` pairs of a dict or list, in order."""
    if isinstance(value, dict):
        yield from value.items()
    elif _is_array(value):
        yield from enumerate(value)


def _clamp(index, length, step):
    """Normalise a slice bound the way Python's slicing does."""
    if index < 0:
        index += length
    elif index >= length:
        index = length - 1 if step < 0 else length
    return index


def slice_indices(length, start, stop, step):
    """Return the indices selected by ``[start:stop:step]`` on *length* items."""
    if step is None:
        step = 1
    if step == 0:
        raise JSONPathError("slice step cannot be zero")
    if start is None:
        start = length - 1 if step < 0 else 0
    else:
        start = _clamp(start, length, step)
    if stop is None:
        stop = -1 if step < 0 else length
    else:
        stop = _clamp(stop, length, step)
    return range(start, stop, step)


def _apply(segment, path, value):
    """Yield ``(path, match)`` pairs produced by one segment on one value."""
    if isinstance(segment, Child):
        if isinstance(value, dict):
            for name in segment.names:
                if name in value:
                    yield path + (name,), value[name]
    elif isinstance(segment, Index):
        if _is_array(value):
            n = len(value)
            for i in segment.indices:
                if -n <= i < n:
                    j = i % n
                    yield path + (j,), value[j]
    elif isinstance(segment, Slice):
        if _is_array(value):
            for i in slice_indices(len(value), segment.start, segment.stop, segment.step):
                yield path + (i,), value[i]
    elif isinstance(segment, Wildcard):
        for key, child in _children(value):
            yield path + (key,), child
    elif isinstance(segment, Filter):
        for key, child in _children(value):
            if _truthy(_eval_expr(segment.expr, child)):
                yield path + (key,), child
    elif isinstance(segment, Descend):
        for sub_path, node in _walk(path, value):
            yield from _apply(segment.segment, sub_path, node)
    else:  # pragma: no cover - parser never produces anything else
        raise JSONPathError("unknown segment %r" % (segment,))


def _walk(path, value):
    """Yield *value* and all its descendants, depth first, with their paths."""
    yield path, value
    for key, child in _children(value):
        yield from _walk(path + (key,), child)


def _resolve(segments, data):
    matches = [((), data)]
    for segment in segments:
        matches = [m for p, v in matches for m in _apply(segment, p, v)]
    return matches


def _truthy(value):
    return value is not _MISSING and value is not None and value is not False


def _eval_expr(node, current):
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Relative):
        found = _resolve(node.segments, current)
        return found[0][1] if found else _MISSING
    if isinstance(node, Not):
        return not _truthy(_eval_expr(node.operand, current))
    if isinstance(node, And):
        return _truthy(_eval_expr(node.left, current)) and \
            _truthy(_eval_expr(node.right, current))
    if isinstance(node, Or):
        return _truthy(_eval_expr(node.left, current)) or \
            _truthy(_eval_expr(node.right, current))
    if isinstance(node, Compare):
        left = _eval_expr(node.left, current)
        right = _eval_expr(node.right, current)
        if left is _MISSING or right is _MISSING:
            return node.op == "!=" and (left is not right)
        if node.op in ("==", "!="):
            return _OPS[node.op](left, right)
        try:
            return _OPS[node.op](left, right)
        except TypeError:
            return False
    raise JSONPathError("cannot evaluate %r" % (node,))  # pragma: no cover


class JSONPath:
    """A compiled path expression."""

    def __init__(self, expression):
        self.expression = expression
        self.segments = parse(expression)

    def find(self, data):
        """Return every matching value, in document order."""
        return [v for _, v in _resolve(self.segments, data)]

    def find_paths(self, data):
        """Return ``(path, value)`` pairs; *path* is a tuple of keys/indices."""
        return _resolve(self.segments, data)

    def first(self, data, default=None):
        matches = _resolve(self.segments, data)
        return matches[0][1] if matches else default

    def __repr__(self):
        return "JSONPath(%r)" % (self.expression,)


_CACHE = {}


def compile(expression):
    """Parse *expression* once; results are cached by expression text."""
    path = _CACHE.get(expression)
    if path is None:
        path = _CACHE[expression] = JSONPath(expression)
    return path


def query(expression, data):
    return compile(expression).find(data)


def query_paths(expression, data):
    return compile(expression).find_paths(data)


def first(expression, data, default=None):
    return compile(expression).first(data, default)
