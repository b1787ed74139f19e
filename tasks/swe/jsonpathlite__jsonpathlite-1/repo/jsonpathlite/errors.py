"""Exception types."""


class JSONPathError(Exception):
    """Base class for all errors raised by jsonpathlite."""


class JSONPathSyntaxError(JSONPathError):
    """The path expression could not be parsed."""

    def __init__(self, message, pos=None):
        if pos is not None:
            message = "%s (at position %d)" % (message, pos)
        super().__init__(message)
        self.pos = pos
