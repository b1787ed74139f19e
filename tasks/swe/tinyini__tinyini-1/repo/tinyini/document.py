"""In-memory representation of an INI document."""

from . import coerce
from .errors import NoOptionError, NoSectionError

DEFAULT_SECTION = "DEFAULT"

_MISSING = object()


def normalize_key(key):
    """Keys are case-insensitive and surrounding whitespace is ignored."""
    return str(key).strip().lower()


class Section:
    """An ordered, case-insensitive mapping of keys to string values.

    The spelling of a key as first written is remembered so that the writer
    can reproduce it.  Section *names* are case-sensitive (like ConfigParser).
    """

    def __init__(self, name, document=None):
        self.name = name
        self._document = document
        self._data = {}  # normalized key -> (display key, value)

    # -- mapping protocol -------------------------------------------------
    def __getitem__(self, key):
        norm = normalize_key(key)
        if norm in self._data:
            return self._data[norm][1]
        defaults = self._defaults()
        if defaults is not None and norm in defaults._data:
            return defaults._data[norm][1]
        raise NoOptionError(key, self.name)

    def __setitem__(self, key, value):
        norm = normalize_key(key)
        display = self._data[norm][0] if norm in self._data else str(key).strip()
        self._data[norm] = (display, None if value is None else str(value))

    def __delitem__(self, key):
        norm = normalize_key(key)
        if norm not in self._data:
            raise NoOptionError(key, self.name)
        del self._data[norm]

    def __contains__(self, key):
        norm = normalize_key(key)
        if norm in self._data:
            return True
        defaults = self._defaults()
        return defaults is not None and norm in defaults._data

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._data)

    def __repr__(self):
        return "Section(%r, %r)" % (self.name, self.to_dict())

    def _defaults(self):
        if self._document is None or self.name == DEFAULT_SECTION:
            return None
        return self._document._sections.get(DEFAULT_SECTION)

    # -- accessors ----------------------------------------------------------
    def keys(self):
        """Own keys (display spelling), in insertion order."""
        return [display for display, _ in self._data.values()]

    def items(self, with_defaults=False):
        result = [(display, value) for display, value in self._data.values()]
        if with_defaults:
            defaults = self._defaults()
            if defaults is not None:
                for norm, (display, value) in defaults._data.items():
                    if norm not in self._data:
                        result.append((display, value))
        return result

    def get(self, key, fallback=None):
        try:
            return self[key]
        except NoOptionError:
            return fallback

    def _convert(self, converter, key, fallback):
        try:
            raw = self[key]
        except NoOptionError:
            if fallback is _MISSING:
                raise
            return fallback
        return converter(raw)

    def getint(self, key, fallback=_MISSING):
        return self._convert(coerce.to_int, key, fallback)

    def getfloat(self, key, fallback=_MISSING):
        return self._convert(coerce.to_float, key, fallback)

    def getboolean(self, key, fallback=_MISSING):
        return self._convert(coerce.to_bool, key, fallback)

    def getlist(self, key, fallback=_MISSING, separator=","):
        return self._convert(lambda v: coerce.to_list(v, separator), key, fallback)

    def getduration(self, key, fallback=_MISSING):
        return self._convert(coerce.to_duration, key, fallback)

    def to_dict(self):
        return {display: value for display, value in self._data.values()}


class IniDocument:
    """An ordered collection of :class:`Section` objects."""

    def __init__(self):
        self._sections = {}

    def __getitem__(self, name):
        try:
            return self._sections[name]
        except KeyError:
            raise NoSectionError(name) from None

    def __contains__(self, name):
        return name in self._sections

    def __iter__(self):
        return iter(self._sections)

    def __len__(self):
        return len(self._sections)

    def __eq__(self, other):
        if not isinstance(other, IniDocument):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def sections(self):
        """Section names, in order, without the DEFAULT section."""
        return [name for name in self._sections if name != DEFAULT_SECTION]

    def has_section(self, name):
        return name in self._sections

    def add_section(self, name):
        if name not in self._sections:
            self._sections[name] = Section(name, self)
        return self._sections[name]

    def remove_section(self, name):
        if name not in self._sections:
            raise NoSectionError(name)
        del self._sections[name]

    @property
    def defaults(self):
        return self.add_section(DEFAULT_SECTION)

    def get(self, section, key, fallback=_MISSING):
        try:
            return self[section][key]
        except (NoSectionError, NoOptionError):
            if fallback is _MISSING:
                raise
            return fallback

    def set(self, section, key, value):
        self.add_section(section)[key] = value

    def _getconv(self, converter, section, key, fallback):
        try:
            raw = self.get(section, key)
        except (NoSectionError, NoOptionError):
            if fallback is _MISSING:
                raise
            return fallback
        return converter(raw)

    def getint(self, section, key, fallback=_MISSING):
        return self._getconv(coerce.to_int, section, key, fallback)

    def getfloat(self, section, key, fallback=_MISSING):
        return self._getconv(coerce.to_float, section, key, fallback)

    def getboolean(self, section, key, fallback=_MISSING):
        return self._getconv(coerce.to_bool, section, key, fallback)

    def getlist(self, section, key, fallback=_MISSING):
        return self._getconv(coerce.to_list, section, key, fallback)

    def to_dict(self):
        return {name: section.to_dict() for name, section in self._sections.items()}
