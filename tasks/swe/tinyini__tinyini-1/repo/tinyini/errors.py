"""Exception hierarchy for tinyini."""


class IniError(Exception):
    """Base class for every error raised by tinyini."""


class ParseError(IniError):
    """The input text is not valid INI."""

    def __init__(self, message, lineno=None, line=None):
        self.message = message
        self.lineno = lineno
        self.line = line
        if lineno is not None:
            message = "line %d: %s" % (lineno, message)
            if line is not None:
                message += " (%r)" % line
        super().__init__(message)


class DuplicateSectionError(ParseError):
    """A section header appears twice while ``strict`` parsing is on."""


class DuplicateKeyError(ParseError):
    """A key appears twice in one section while ``strict`` parsing is on."""


class NoSectionError(IniError, KeyError):
    """The requested section does not exist."""

    def __init__(self, section):
        self.section = section
        super().__init__("no section: %r" % (section,))

    def __str__(self):
        return self.args[0]


class NoOptionError(IniError, KeyError):
    """The requested key does not exist in the section (or in DEFAULT)."""

    def __init__(self, key, section):
        self.key = key
        self.section = section
        super().__init__("no option %r in section %r" % (key, section))

    def __str__(self):
        return self.args[0]


class CoercionError(IniError, ValueError):
    """A value could not be converted to the requested type."""
