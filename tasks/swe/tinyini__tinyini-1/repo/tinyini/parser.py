"""Turn INI text into an :class:`~tinyini.document.IniDocument`."""

import re

from .document import IniDocument, normalize_key
from .errors import DuplicateKeyError, DuplicateSectionError, ParseError

QUOTES = "\"'"

_SECTION_RE = re.compile(r"^\[(?P<name>[^\]]*)\]\s*(?:[#;].*)?$")


def _strip_inline_comment(value, prefixes):
    """Remove a trailing inline comment from ``value``.

    An inline comment starts with one of ``prefixes`` that is preceded by
    whitespace (so ``http://host/#anchor`` keeps its ``#``).  Comment
    characters inside a quoted value are part of the value.
    """
    if not prefixes:
        return value
    in_quote = False
    for i, ch in enumerate(value):
        if ch in QUOTES:
            in_quote = not in_quote
        elif not in_quote and ch in prefixes and (i == 0 or value[i - 1].isspace()):
            return value[:i].rstrip()
    return value


def unquote(value):
    """Remove one pair of matching surrounding quotes, if present."""
    if len(value) >= 2 and value[0] in QUOTES and value[-1] == value[0]:
        return value[1:-1]
    return value


def _split_option(line, delimiters):
    """Split ``line`` at the earliest delimiter; ``(None, None)`` if none."""
    found = [(line.find(d), d) for d in delimiters if d in line]
    if not found:
        return None, None
    pos, delim = min(found)
    return line[:pos], line[pos + len(delim):]


def _is_comment(stripped, prefixes):
    return any(stripped.startswith(prefix) for prefix in prefixes)


def loads(text, *, comment_prefixes=("#", ";"), inline_comment_prefixes=("#", ";"),
          delimiters=("=", ":"), strict=True, allow_no_value=False):
    """Parse INI ``text`` and return an :class:`IniDocument`.

    * Section names are case-sensitive; keys are case-insensitive.
    * ``key = value`` and ``key: value`` are both accepted.
    * Whole-line comments start with one of ``comment_prefixes``; inline
      comments start with one of ``inline_comment_prefixes`` preceded by
      whitespace.
    * Indented lines continue the value of the previous key.
    * With ``strict`` (the default) duplicate sections and keys are errors;
      otherwise later values win.
    """
    doc = IniDocument()
    section = None
    last_key = None
    seen_sections = set()

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if lineno == 1:
            line = line.lstrip("\ufeff")
        stripped = line.strip()
        if not stripped:
            last_key = None
            continue
        if _is_comment(stripped, comment_prefixes):
            continue

        indented = line[:1].isspace()
        if indented and last_key is not None:
            part = _strip_inline_comment(stripped, inline_comment_prefixes)
            current = section._data[last_key][1]
            section[last_key] = part if not current else current + "\n" + part
            continue

        header = _SECTION_RE.match(stripped)
        if header:
            name = header.group("name").strip()
            if not name:
                raise ParseError("empty section name", lineno, raw)
            if name in seen_sections and strict:
                raise DuplicateSectionError("duplicate section %r" % name, lineno, raw)
            seen_sections.add(name)
            section = doc.add_section(name)
            last_key = None
            continue

        if section is None:
            raise ParseError("option outside of any section", lineno, raw)

        key, value = _split_option(stripped, delimiters)
        if key is None:
            if not allow_no_value:
                raise ParseError("expected 'key = value'", lineno, raw)
            key, value = stripped, None
        key = key.strip()
        if not key:
            raise ParseError("empty key", lineno, raw)
        norm = normalize_key(key)
        if strict and norm in section._data:
            raise DuplicateKeyError(
                "duplicate key %r in section %r" % (key, section.name), lineno, raw)
        if value is not None:
            value = unquote(_strip_inline_comment(value.strip(), inline_comment_prefixes))
        section[key] = value
        last_key = norm

    return doc


def load(fp, **options):
    """Parse an open text file."""
    return loads(fp.read(), **options)


def read(path, encoding="utf-8", **options):
    """Parse the file at ``path``."""
    with open(path, encoding=encoding) as fp:
        return load(fp, **options)
