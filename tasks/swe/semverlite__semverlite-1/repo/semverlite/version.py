"""Semantic versions as defined by https://semver.org (2.0.0)."""

import functools
import re

_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
_BUILD_ID = r"[0-9a-zA-Z-]+"

SEMVER_RE = re.compile(
    r"^(?P<major>{n})\.(?P<minor>{n})\.(?P<patch>{n})"
    r"(?:-(?P<pre>{p}(?:\.{p})*))?"
    r"(?:\+(?P<build>{b}(?:\.{b})*))?$".format(n=_NUM, p=_PRE_ID, b=_BUILD_ID)
)

_LOOSE_RE = re.compile(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?")


class InvalidVersion(ValueError):
    """The text is not a valid semantic version."""


def _prerelease_key(identifiers):
    # Numeric identifiers have lower precedence than alphanumeric ones.
    return tuple((not ident.isdigit(), ident) for ident in identifiers)


@functools.total_ordering
class Version:
    """An immutable semantic version.

    Precedence follows the specification: major, minor and patch compare
    numerically, a pre-release sorts before the corresponding release, and
    build metadata is ignored (``1.0.0+a == 1.0.0+b``).
    """

    __slots__ = ("major", "minor", "patch", "prerelease", "build")

    def __init__(self, major, minor=0, patch=0, prerelease=(), build=()):
        for name, value in (("major", major), ("minor", minor), ("patch", patch)):
            if not isinstance(value, int) or value < 0:
                raise InvalidVersion("%s must be a non-negative integer" % name)
        if isinstance(prerelease, str):
            prerelease = tuple(prerelease.split(".")) if prerelease else ()
        if isinstance(build, str):
            build = tuple(build.split(".")) if build else ()
        object.__setattr__(self, "major", major)
        object.__setattr__(self, "minor", minor)
        object.__setattr__(self, "patch", patch)
        object.__setattr__(self, "prerelease", tuple(str(p) for p in prerelease))
        object.__setattr__(self, "build", tuple(str(b) for b in build))

    def __setattr__(self, name, value):
        raise AttributeError("Version objects are immutable")

    @classmethod
    def parse(cls, text):
        """Parse a strict semantic version; a leading ``v`` or ``=`` is allowed."""
        if isinstance(text, Version):
            return text
        candidate = text.strip()
        if candidate[:1] in ("v", "V", "="):
            candidate = candidate[1:]
        match = SEMVER_RE.match(candidate)
        if not match:
            raise InvalidVersion("invalid semantic version: %r" % (text,))
        return cls(int(match.group("major")), int(match.group("minor")),
                   int(match.group("patch")), match.group("pre") or (),
                   match.group("build") or ())

    @classmethod
    def coerce(cls, text):
        """Find the first ``X[.Y[.Z]]`` in ``text`` (``"release 2.1"`` -> 2.1.0)."""
        match = _LOOSE_RE.search(text)
        if not match:
            raise InvalidVersion("no version found in %r" % (text,))
        major, minor, patch = (int(g) if g else 0 for g in match.groups())
        return cls(major, minor, patch)

    # -- comparison -----------------------------------------------------------
    def _key(self):
        if self.prerelease:
            return (self.major, self.minor, self.patch, 0, _prerelease_key(self.prerelease))
        return (self.major, self.minor, self.patch, 1, ())

    def __eq__(self, other):
        other = _coerce_other(other)
        if other is NotImplemented:
            return other
        return self._key() == other._key()

    def __lt__(self, other):
        other = _coerce_other(other)
        if other is NotImplemented:
            return other
        return self._key() < other._key()

    def __hash__(self):
        return hash(self._key())

    def compare(self, other):
        """-1, 0 or 1, like the classic ``cmp``."""
        other = _coerce_other(other)
        return (self > other) - (self < other)

    # -- presentation ---------------------------------------------------------
    def __str__(self):
        text = "%d.%d.%d" % (self.major, self.minor, self.patch)
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def __repr__(self):
        return "Version(%r)" % str(self)

    @property
    def is_prerelease(self):
        return bool(self.prerelease)

    @property
    def release(self):
        """This version without pre-release and build metadata."""
        return Version(self.major, self.minor, self.patch)

    # -- bumping --------------------------------------------------------------
    def bump_major(self):
        if self.prerelease and self.minor == 0 and self.patch == 0:
            return self.release
        return Version(self.major + 1, 0, 0)

    def bump_minor(self):
        if self.prerelease and self.patch == 0:
            return self.release
        return Version(self.major, self.minor + 1, 0)

    def bump_patch(self):
        if self.prerelease:
            return self.release
        return Version(self.major, self.minor, self.patch + 1)

    def bump_prerelease(self, token=None):
        """``1.2.3`` -> ``1.2.4-rc.0``; ``1.2.4-rc.0`` -> ``1.2.4-rc.1``."""
        if not self.prerelease:
            base = Version(self.major, self.minor, self.patch + 1)
            return Version(base.major, base.minor, base.patch, (token, "0") if token else ("0",))
        parts = list(self.prerelease)
        if token and parts[0] != token:
            parts = [token, "0"]
        else:
            for i in range(len(parts) - 1, -1, -1):
                if parts[i].isdigit():
                    parts[i] = str(int(parts[i]) + 1)
                    break
            else:
                parts.append("0")
        return Version(self.major, self.minor, self.patch, parts)


def _coerce_other(other):
    if isinstance(other, Version):
        return other
    if isinstance(other, str):
        return Version.parse(other)
    return NotImplemented


def parse(text):
    return Version.parse(text)


def compare(a, b):
    return Version.parse(a).compare(Version.parse(b))


def sort_versions(versions, reverse=False):
    """Sort version strings (or Versions) by precedence."""
    return sorted(versions, key=Version.parse, reverse=reverse)
