import pytest

from semverlite import (InvalidRange, Range, filter_versions, max_satisfying, min_satisfying,
                        satisfies)


def _check(spec, good, bad):
    for v in good:
        assert satisfies(v, spec), (v, spec)
    for v in bad:
        assert not satisfies(v, spec), (v, spec)


def test_exact_and_comparators():
    _check("1.2.3", ["1.2.3", "1.2.3+build"], ["1.2.4", "1.2.2"])
    _check(">=1.2.0 <1.4.0", ["1.2.0", "1.3.9"], ["1.1.9", "1.4.0"])
    _check("> 1.0.0 <= 1.1.0", ["1.0.1", "1.1.0"], ["1.0.0", "1.1.1"])


def test_caret_ranges():
    _check("^1.2.3", ["1.2.3", "1.9.9"], ["1.2.2", "2.0.0"])
    _check("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"])
    _check("^0.0.3", ["0.0.3"], ["0.0.4"])
    _check("^1.2", ["1.2.0", "1.99.0"], ["1.1.0", "2.0.0"])
    _check("^0", ["0.0.0", "0.9.9"], ["1.0.0"])


def test_tilde_ranges():
    _check("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"])
    _check("~1.2", ["1.2.0", "1.2.9"], ["1.3.0"])
    _check("~1", ["1.0.0", "1.9.0"], ["2.0.0"])
    _check("~>1.2", ["1.2.5"], ["1.3.0"])


def test_x_ranges_and_star():
    _check("1.2.x", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.9"])
    _check("1.x", ["1.0.0", "1.9.9"], ["2.0.0"])
    _check("*", ["0.0.0", "9.9.9"], [])
    _check("", ["1.0.0"], [])


def test_partial_comparisons():
    _check(">1.2", ["1.3.0"], ["1.2.9"])
    _check("<=1.2", ["1.2.9"], ["1.3.0"])
    _check("<1.2", ["1.1.9"], ["1.2.0"])
    _check(">=2", ["2.0.0"], ["1.9.9"])


def test_hyphen_ranges():
    _check("1.2.3 - 2.3.4", ["1.2.3", "2.3.4"], ["1.2.2", "2.3.5"])
    _check("1.2 - 2.3", ["1.2.0", "2.3.9"], ["2.4.0"])


def test_or_ranges():
    _check("^1.2.0 || >=3.0.0 <3.1.0", ["1.5.0", "3.0.5"], ["2.0.0", "3.1.0"])


def test_prereleases_are_excluded_unless_named():
    assert not satisfies("1.3.0-beta", "^1.2.3")
    assert satisfies("1.3.0-beta", "^1.2.3", include_prerelease=True)
    _check("^1.2.3-beta.2", ["1.2.3-beta.2", "1.2.3-beta.4", "1.2.3-rc.1", "1.2.3", "1.5.0"],
           ["1.2.3-beta.1", "1.2.4-beta.1", "2.0.0"])
    assert not satisfies("2.0.0-rc.1", "^1.2.3", include_prerelease=True)


def test_range_str_and_contains():
    assert str(Range("^1.2.3")) == ">=1.2.3 <2.0.0-0"
    assert str(Range("1.2.3 || *")) == "1.2.3 || *"
    assert "1.4.0" in Range("~1.4")


def test_invalid_ranges():
    for spec in ("^a.b", ">=1.2.3.4", "1.2.3 - ", "%1.0.0"):
        with pytest.raises(InvalidRange):
            Range(spec)


def test_max_min_and_filter():
    versions = ["1.0.0", "1.2.0", "1.10.0", "2.0.0", "1.5.0-beta"]
    assert max_satisfying(versions, "^1.0.0") == "1.10.0"
    assert min_satisfying(versions, ">1.0.0") == "1.2.0"
    assert filter_versions(versions, "~1.2") == ["1.2.0"]
    assert max_satisfying(versions, ">=3") is None
    assert max_satisfying(versions, "^1.0.0", include_prerelease=True) == "1.10.0"
