"""semverlite - semantic version parsing, comparison and ranges."""

from .ranges import (Comparator, InvalidRange, Range, filter_versions, max_satisfying,
                     min_satisfying, satisfies)
from .version import InvalidVersion, Version, compare, parse, sort_versions

__version__ = "1.0.0"

__all__ = [
    "Version", "InvalidVersion", "parse", "compare", "sort_versions",
    "Range", "Comparator", "InvalidRange", "satisfies", "filter_versions",
    "max_satisfying", "min_satisfying",
]
