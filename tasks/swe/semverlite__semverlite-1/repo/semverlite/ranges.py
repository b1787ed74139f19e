"""npm-style version ranges.

Supported syntax (combine with spaces for AND and ``||`` for OR)::

    1.2.3  =1.2.3          exact version
    >1.2.3 >=1.2 <2 <=2.1  comparisons (partial versions allowed)
    ^1.2.3 ^0.2 ^0.0.3     compatible with (left-most non-zero part fixed)
    ~1.2.3 ~1.2 ~1         approximately (patch-level changes)
    1.2.x  1.x  *          x-ranges
    1.2.3 - 2.3            hyphen ranges (inclusive)

A pre-release version only satisfies a range if a comparator in the same
AND-set names a pre-release of the same ``major.minor.patch`` (unless
``include_prerelease`` is set), so ``^1.2.3`` does not match ``1.3.0-beta``.
"""

import operator
import re

from .version import Version

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
        "=": operator.eq}

_PARTIAL_RE = re.compile(
    r"^[vV=]?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$")
_COMPARATOR_RE = re.compile(r"^(?P<op><=|>=|<|>|=|\^|~>?)?(?P<version>\S+)$")
_HYPHEN_RE = re.compile(r"^(?P<low>\S+)\s+-\s+(?P<high>\S+)$")
_OP_SPACE_RE = re.compile(r"(<=|>=|<|>|=|\^|~>?)\s+")

_NOTHING = Version(0, 0, 0, ("0",))  # the lowest possible version


class InvalidRange(ValueError):
    """The text is not a valid range expression."""


class Comparator:
    __slots__ = ("op", "version")

    def __init__(self, op, version):
        self.op = op
        self.version = version

    def test(self, version):
        return _OPS[self.op](version, self.version)

    def __repr__(self):
        return "Comparator(%r)" % str(self)

    def __str__(self):
        return ("" if self.op == "=" else self.op) + str(self.version)


def _partial(text):
    """``"1.2.x"`` -> ``([1, 2], None)``; ``"1.2.3-rc.1"`` -> ``([1, 2, 3], "rc.1")``."""
    match = _PARTIAL_RE.match(text)
    if not match:
        raise InvalidRange("invalid version in range: %r" % (text,))
    nums = []
    for part in match.group("major", "minor", "patch"):
        if part is None or part in "xX*":
            break
        nums.append(int(part))
    pre = match.group("pre") if len(nums) == 3 else None
    return nums, pre


def _floor(nums, pre=None):
    padded = nums + [0] * (3 - len(nums))
    return Version(*padded, prerelease=pre or ())


def _bump(nums, index):
    """The first version above every version that starts with ``nums[:index+1]``."""
    parts = (nums + [0] * 3)[:3]
    parts[index] += 1
    for i in range(index + 1, 3):
        parts[i] = 0
    return Version(*parts, prerelease=("0",))


def _expand(op, text):
    """Desugar one ``op``+``version`` token into plain comparators."""
    nums, pre = _partial(text)
    n = len(nums)
    if op in ("", "="):
        if n == 3:
            return [Comparator("=", _floor(nums, pre))]
        return [] if n == 0 else [Comparator(">=", _floor(nums)), Comparator("<", _bump(nums, n - 1))]
    if op == "^":
        if n == 0:
            return []
        index = next((i for i, value in enumerate(nums) if value != 0), n - 1)
        return [Comparator(">=", _floor(nums, pre)), Comparator("<", _bump(nums, index))]
    if op in ("~", "~>"):
        if n == 0:
            return []
        index = 0 if n == 1 else 1
        return [Comparator(">=", _floor(nums, pre)), Comparator("<", _bump(nums, index))]
    if op == ">=":
        return [] if n == 0 else [Comparator(">=", _floor(nums, pre))]
    if op == "<":
        if n == 0:
            return [Comparator("<", _NOTHING)]
        return [Comparator("<", _floor(nums, pre if n == 3 else "0"))]
    if op == ">":
        if n == 0:
            return [Comparator("<", _NOTHING)]
        if n == 3:
            return [Comparator(">", _floor(nums, pre))]
        return [Comparator(">=", _bump(nums, n - 1))]
    if op == "<=":
        if n == 0:
            return []
        if n == 3:
            return [Comparator("<=", _floor(nums, pre))]
        return [Comparator("<", _bump(nums, n - 1))]
    raise InvalidRange("unknown operator %r" % (op,))


def _parse_set(text):
    text = text.strip()
    hyphen = _HYPHEN_RE.match(text)
    if hyphen:
        return _expand(">=", hyphen.group("low")) + _expand("<=", hyphen.group("high"))
    comparators = []
    for token in _OP_SPACE_RE.sub(r"\1", text).split():
        match = _COMPARATOR_RE.match(token)
        if not match:
            raise InvalidRange("invalid comparator: %r" % (token,))
        comparators.extend(_expand(match.group("op") or "", match.group("version")))
    return comparators


def _test_set(comparators, version, include_prerelease):
    if not all(c.test(version) for c in comparators):
        return False
    if version.prerelease and not include_prerelease:
        return any(c.version.prerelease and c.version.release == version.release
                   for c in comparators)
    return True


class Range:
    """A parsed range expression; see the module documentation."""

    def __init__(self, text):
        self.raw = text
        self.sets = [_parse_set(alternative) for alternative in text.split("||")]

    def __repr__(self):
        return "Range(%r)" % self.raw

    def __str__(self):
        return " || ".join(" ".join(str(c) for c in s) or "*" for s in self.sets)

    def contains(self, version, include_prerelease=False):
        version = Version.parse(version)
        return any(_test_set(s, version, include_prerelease) for s in self.sets)

    __contains__ = contains


def _as_range(spec):
    return spec if isinstance(spec, Range) else Range(spec)


def satisfies(version, spec, include_prerelease=False):
    return _as_range(spec).contains(version, include_prerelease)


def filter_versions(versions, spec, include_prerelease=False):
    """The versions (in their original order) that satisfy ``spec``."""
    rng = _as_range(spec)
    return [v for v in versions if rng.contains(v, include_prerelease)]


def max_satisfying(versions, spec, include_prerelease=False):
    """The highest version satisfying ``spec``, or ``None``."""
    matching = filter_versions(versions, spec, include_prerelease)
    return max(matching, key=Version.parse) if matching else None


def min_satisfying(versions, spec, include_prerelease=False):
    """The lowest version satisfying ``spec``, or ``None``."""
    matching = filter_versions(versions, spec, include_prerelease)
    return min(matching, key=Version.parse) if matching else None
