"""jsonpathlite - query nested dicts and lists with JSONPath-like expressions.

Supported syntax::

    $                 the root
    .name  ['name']   a member of an object
    .*     [*]        every member / element
    ..name            recursive descent
    [0]  [-1]         array index (negative counts from the end)
    [0,2]  ['a','b']  unions
    [start:end:step]  array slices with Python semantics
    [?(expr)]         filters, e.g. [?(@.price < 10 && @.tags)]
"""

from .errors import JSONPathError, JSONPathSyntaxError
from .evaluator import JSONPath, compile, first, query, query_paths

__version__ = "1.0.0"

__all__ = [
    "JSONPath",
    "JSONPathError",
    "JSONPathSyntaxError",
    "compile",
    "first",
    "query",
    "query_paths",
]
