"""tinyini - a tiny INI-file parser and writer."""

from .coerce import to_bool, to_duration, to_float, to_int, to_list
from .document import DEFAULT_SECTION, IniDocument, Section
from .errors import (CoercionError, DuplicateKeyError, DuplicateSectionError, IniError,
                     NoOptionError, NoSectionError, ParseError)
from .parser import load, loads, read, unquote
from .writer import dump, dumps, format_value

__version__ = "1.0.0"

__all__ = [
    "DEFAULT_SECTION", "IniDocument", "Section",
    "load", "loads", "read", "unquote", "dump", "dumps", "format_value",
    "to_bool", "to_duration", "to_float", "to_int", "to_list",
    "IniError", "ParseError", "DuplicateSectionError", "DuplicateKeyError",
    "NoSectionError", "NoOptionError", "CoercionError",
]
