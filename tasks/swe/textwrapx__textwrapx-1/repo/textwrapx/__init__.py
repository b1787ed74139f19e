"""textwrapx - text wrapping, truncation and justification helpers.

A small, dependency-free alternative to :mod:`textwrap` with support for
hyphenated splitting of long words and fully justified output.
"""

from .justify import align_line, justify, justify_line
from .utils import dedent, expand_tabs, indent, paragraphs, split_words
from .wrapper import TextWrapper, fill, fill_paragraphs, shorten, wrap

__version__ = "1.0.0"

__all__ = [
    "TextWrapper",
    "align_line",
    "dedent",
    "expand_tabs",
    "fill",
    "fill_paragraphs",
    "indent",
    "justify",
    "justify_line",
    "paragraphs",
    "shorten",
    "split_words",
    "wrap",
]
