"""Tokenizer for path and filter expressions."""

import re
from collections import namedtuple

from .errors import JSONPathSyntaxError

Token = namedtuple("Token", ["kind", "value", "pos"])

_SPEC = [
    ("WS", r"[ \t\r\n]+"),
    ("NUMBER", r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"),
    ("STRING", r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""),
    ("DOTDOT", r"\.\."),
    ("OP", r"==|!=|<=|>=|<|>"),
    ("AND", r"&&"),
    ("OR", r"\|\|"),
    ("NOT", r"!"),
    ("NAME", r"[A-Za-z_][A-Za-z0-9_\-]*"),
    ("PUNCT", r"[$@.\[\]()*:,?]"),
]
_REGEX = re.compile("|".join("(?P<%s>%s)" % pair for pair in _SPEC))
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


def _unquote(text):
    body = text[1:-1]
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def tokenize(text):
    """Return the list of tokens for *text*, ending with an ``EOF`` token."""
    tokens = []
    pos = 0
    while pos < len(text):
        m = _REGEX.match(text, pos)
        if m is None:
            raise JSONPathSyntaxError("unexpected character %r" % text[pos], pos)
        kind = m.lastgroup
        value = m.group()
        if kind == "NUMBER":
            is_float = any(c in value for c in ".eE")
            tokens.append(Token("NUMBER", float(value) if is_float else int(value), pos))
        elif kind == "STRING":
            tokens.append(Token("STRING", _unquote(value), pos))
        elif kind == "PUNCT":
            tokens.append(Token(value, value, pos))
        elif kind != "WS":
            tokens.append(Token(kind, value, pos))
        pos = m.end()
    tokens.append(Token("EOF", None, pos))
    return tokens
