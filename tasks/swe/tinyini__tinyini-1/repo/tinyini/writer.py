"""Serialize an :class:`~tinyini.document.IniDocument` back to text."""

from .document import DEFAULT_SECTION
from .parser import QUOTES


def _needs_quotes(value, prefixes):
    if value != value.strip():
        return True
    if value[:1] in QUOTES:
        return True
    for i, ch in enumerate(value):
        if ch in prefixes and (i == 0 or value[i - 1].isspace()):
            return True
    return False


def _quote(value):
    quote = "'" if '"' in value else '"'
    return quote + value + quote


def format_value(value, inline_comment_prefixes=("#", ";")):
    """Return ``value`` as it must be written so that it parses back unchanged."""
    lines = value.split("\n")
    if len(lines) == 1 and _needs_quotes(value, inline_comment_prefixes):
        return _quote(value)
    return "\n    ".join(lines)


def dumps(doc, *, delimiter="=", space_around_delimiters=True,
          inline_comment_prefixes=("#", ";")):
    """Return the INI text for ``doc``.  DEFAULT (if any) is written first."""
    sep = " %s " % delimiter if space_around_delimiters else delimiter
    names = list(doc)
    if DEFAULT_SECTION in names:
        names.remove(DEFAULT_SECTION)
        names.insert(0, DEFAULT_SECTION)

    out = []
    for name in names:
        if out:
            out.append("")
        out.append("[%s]" % name)
        for key, value in doc[name].items():
            if value is None:
                out.append(key)
            else:
                out.append(key + sep + format_value(value, inline_comment_prefixes))
    return "\n".join(out) + "\n" if out else ""


def dump(doc, fp, **options):
    """Write ``doc`` to the open text file ``fp``."""
    fp.write(dumps(doc, **options))
