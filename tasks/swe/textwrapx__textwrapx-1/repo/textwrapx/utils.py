"""Low-level string helpers shared by the wrapping and justification code."""

import re

__all__ = ["expand_tabs", "split_words", "paragraphs", "dedent", "indent"]

_WS = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")


def expand_tabs(text, tabsize=8):
    """Replace tab characters with spaces, honouring tab stops per line."""
    if tabsize < 0:
        raise ValueError("tabsize must be >= 0")
    return text.expandtabs(tabsize)


def split_words(text):
    """Split *text* into words on any run of whitespace.

    Leading and trailing whitespace is ignored, so an empty or blank string
    yields an empty list.
    """
    return [w for w in _WS.split(text) if w]


def paragraphs(text):
    """Split *text* into paragraphs separated by one or more blank lines.

    Each paragraph is returned with its internal newlines intact; paragraphs
    consisting only of whitespace are dropped.
    """
    parts = _BLANK_LINES.split(text.strip("\n"))
    return [p for p in parts if p.strip()]


def _leading_ws(line):
    return line[: len(line) - len(line.lstrip(" \t"))]


def dedent(text):
    """Remove any common leading whitespace from every non-blank line.

    Blank lines (or lines made only of whitespace) are normalised to empty
    lines and do not take part in computing the common margin.
    """
    lines = text.split("\n")
    margin = None
    for line in lines:
        if not line.strip():
            continue
        ws = _leading_ws(line)
        if margin is None:
            margin = ws
            continue
        # Shrink the margin to the longest common prefix.
        i = 0
        while i < len(margin) and i < len(ws) and margin[i] == ws[i]:
            i += 1
        margin = margin[:i]
    out = []
    for line in lines:
        if not line.strip():
            out.append("")
        elif margin:
            out.append(line[len(margin):])
        else:
            out.append(line)
    return "\n".join(out)


def indent(text, prefix, predicate=None):
    """Add *prefix* to the beginning of selected lines in *text*.

    By default the prefix is added to every line that is not made only of
    whitespace. *predicate* may be given to choose lines explicitly.
    """
    if predicate is None:
        def predicate(line):
            return bool(line.strip())

    out = []
    for line in text.splitlines(True):
        out.append(prefix + line if predicate(line) else line)
    return "".join(out)
