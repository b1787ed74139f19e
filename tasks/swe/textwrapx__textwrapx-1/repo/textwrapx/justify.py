"""Alignment and full justification of wrapped text."""

from .utils import split_words
from .wrapper import TextWrapper

__all__ = ["align_line", "justify_line", "justify"]

_ALIGNMENTS = ("left", "right", "center", "full")


def justify_line(line, width):
    """Stretch *line* to exactly *width* columns by widening the gaps.

    Extra spaces are handed out left to right, so the leftmost gaps may be
    one space wider than the rightmost ones. A line with a single word is
    padded on the right. Lines already at least *width* long are returned
    with single spaces between words.
    """
    words = split_words(line)
    if not words:
        return " " * width
    if len(words) == 1:
        return words[0].ljust(width)
    gaps = len(words) - 1
    spaces = width - sum(len(w) for w in words)
    if spaces < gaps:
        return " ".join(words)
    base, extra = divmod(spaces, gaps)
    out = []
    for i, word in enumerate(words[:-1]):
        out.append(word)
        out.append(" " * (base + (1 if i < extra else 0)))
    out.append(words[-1])
    return "".join(out)


def align_line(line, width, align="left"):
    """Align a single *line* within *width* columns."""
    if align == "left":
        return line.rstrip()
    if align == "right":
        return line.strip().rjust(width)
    if align == "center":
        return line.strip().center(width).rstrip()
    if align == "full":
        return justify_line(line, width)
    raise ValueError("unknown alignment %r (expected one of %s)"
                     % (align, ", ".join(_ALIGNMENTS)))


def justify(text, width=70, align="full", **kwargs):
    """Wrap *text* to *width* and align every line.

    With ``align="full"`` every line but the last is stretched to exactly
    *width* columns; the last line is left-aligned, as is customary.
    Extra keyword arguments are passed to :class:`TextWrapper`; indentation
    is not supported here because it would be stretched along with the text.
    """
    if align not in _ALIGNMENTS:
        raise ValueError("unknown alignment %r (expected one of %s)"
                         % (align, ", ".join(_ALIGNMENTS)))
    for bad in ("initial_indent", "subsequent_indent"):
        if kwargs.get(bad):
            raise TypeError("justify() does not support %s" % bad)
    lines = TextWrapper(width=width, **kwargs).wrap(text)
    out = []
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if align == "full" and last:
            out.append(line)
        else:
            out.append(align_line(line, width, align))
    return "\n".join(out)
