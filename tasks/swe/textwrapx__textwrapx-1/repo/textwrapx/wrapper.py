"""The line-wrapping engine."""

from .utils import expand_tabs, paragraphs, split_words

__all__ = ["TextWrapper", "wrap", "fill", "fill_paragraphs", "shorten"]


class TextWrapper:
    """Wrap a paragraph of text so that no line is longer than *width*.

    width
        Maximum length of an output line, indentation included.
    initial_indent / subsequent_indent
        Strings prepended to the first line / to every other line.
    break_long_words
        When true, words longer than the available room are split across
        lines; otherwise they are left intact on a line of their own (which
        is then longer than *width*).
    hyphenate
        When splitting a long word, end every piece but the last with ``-``.
    max_lines
        If set, output is truncated to that many lines and the last line ends
        with *placeholder*.
    tabsize
        Tab characters are expanded to this many columns before wrapping.

    Whitespace in the input is collapsed: words are separated by exactly one
    space in the output.
    """

    def __init__(self, width=70, initial_indent="", subsequent_indent="",
                 break_long_words=True, hyphenate=False, max_lines=None,
                 placeholder=" [...]", tabsize=8):
        if width <= 0:
            raise ValueError("invalid width %r (must be > 0)" % (width,))
        if max_lines is not None and max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self.width = width
        self.initial_indent = initial_indent
        self.subsequent_indent = subsequent_indent
        self.break_long_words = break_long_words
        self.hyphenate = hyphenate
        self.max_lines = max_lines
        self.placeholder = placeholder
        self.tabsize = tabsize

    # -- helpers ---------------------------------------------------------

    def _indent_for(self, line_no):
        return self.initial_indent if line_no == 0 else self.subsequent_indent

    def _room(self, line_no):
        """Return ``(indent, available_columns)`` for output line *line_no*."""
        ind = self._indent_for(line_no)
        avail = self.width - len(ind)
        if avail <= 0:
            raise ValueError("indent %r leaves no room within width %d"
                             % (ind, self.width))
        return ind, avail

    def _cut(self, word, avail):
        """Split *word* into a head that fits in *avail* columns and a tail."""
        if self.hyphenate and avail >= 2:
            return word[: avail - 1] + "-", word[avail - 1:]
        return word[:avail], word[avail:]

    def _wrap_words(self, words):
        lines = []
        cur = []        # words on the line being built
        cur_len = 0     # its length, separating spaces included
        pending = list(reversed(words))
        while pending:
            word = pending.pop()
            ind, avail = self._room(len(lines))
            if cur and cur_len + 1 + len(word) >= avail:
                # The word does not fit: finish this line, retry on the next.
                lines.append(ind + " ".join(cur))
                cur, cur_len = [], 0
                pending.append(word)
                continue
            if not cur and len(word) > avail:
                if self.break_long_words:
                    head, tail = self._cut(word, avail)
                    lines.append(ind + head)
                    if tail:
                        pending.append(tail)
                else:
                    lines.append(ind + word)
                continue
            cur_len += len(word) + (1 if cur else 0)
            cur.append(word)
        if cur:
            lines.append(self._indent_for(len(lines)) + " ".join(cur))
        return lines

    def _truncate(self, lines):
        kept = lines[: self.max_lines]
        ind = self._indent_for(len(kept) - 1)
        words = kept[-1][len(ind):].split(" ")
        while words and len(ind) + len(" ".join(words)) + len(self.placeholder) > self.width:
            words.pop()
        if words:
            kept[-1] = ind + " ".join(words) + self.placeholder
        else:
            kept[-1] = ind + self.placeholder.lstrip()
        return kept

    # -- public API ------------------------------------------------------

    def wrap(self, text):
        """Wrap *text* and return a list of lines without trailing newlines."""
        words = split_words(expand_tabs(text, self.tabsize))
        if not words:
            return []
        lines = self._wrap_words(words)
        if self.max_lines is not None and len(lines) > self.max_lines:
            lines = self._truncate(lines)
        return lines

    def fill(self, text):
        """Wrap *text* and return a single string with embedded newlines."""
        return "\n".join(self.wrap(text))


def wrap(text, width=70, **kwargs):
    """Wrap *text* to *width* columns; see :class:`TextWrapper`."""
    return TextWrapper(width=width, **kwargs).wrap(text)


def fill(text, width=70, **kwargs):
    """Like :func:`wrap` but return a single newline-joined string."""
    return TextWrapper(width=width, **kwargs).fill(text)


def fill_paragraphs(text, width=70, **kwargs):
    """Fill every paragraph of *text* separately, keeping blank-line breaks."""
    wrapper = TextWrapper(width=width, **kwargs)
    return "\n\n".join(wrapper.fill(p) for p in paragraphs(text))


def shorten(text, width, placeholder=" [...]"):
    """Collapse whitespace and truncate *text* to fit in *width* columns.

    Whole words are dropped from the end and *placeholder* is appended when
    the text does not fit.
    """
    collapsed = " ".join(split_words(text))
    if len(collapsed) <= width:
        return collapsed
    if len(placeholder.lstrip()) > width:
        raise ValueError("placeholder too large for max width")
    return TextWrapper(width=width, max_lines=1, placeholder=placeholder).fill(collapsed)
