import pytest

from semverlite import InvalidVersion, Version, compare, parse, sort_versions


def test_parse_all_fields():
    v = parse("1.2.3-alpha.1+build.5")
    assert (v.major, v.minor, v.patch) == (1, 2, 3)
    assert v.prerelease == ("alpha", "1")
    assert v.build == ("build", "5")
    assert v.is_prerelease


def test_parse_accepts_v_prefix_and_whitespace():
    assert parse(" v2.0.1 ") == Version(2, 0, 1)
    assert parse("=0.0.0") == Version(0, 0, 0)


def test_parse_rejects_invalid_versions():
    for text in ("1.2", "01.2.3", "1.2.3-01", "1.2.3-", "1.2.3+", "a.b.c", "1.2.3.4", ""):
        with pytest.raises(InvalidVersion):
            parse(text)


def test_str_roundtrip():
    for text in ("0.0.1", "1.2.3-rc.1", "1.0.0+20240101", "3.4.5-beta-2.x+sha.abc"):
        assert str(parse(text)) == text


def test_core_parts_compare_numerically():
    assert parse("1.9.0") < parse("1.10.0") < parse("2.0.0")
    assert parse("1.2.10") > parse("1.2.9")
    assert parse("10.0.0") > "9.99.99"


def test_prerelease_sorts_before_release():
    chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
             "1.0.0-beta.2", "1.0.0-rc.1", "1.0.0"]
    versions = [parse(v) for v in chain]
    assert versions == sorted(versions)
    assert all(a < b for a, b in zip(versions, versions[1:]))


def test_numeric_identifier_lower_than_alphanumeric():
    assert parse("1.0.0-1") < parse("1.0.0-alpha")
    assert parse("1.0.0-rc.1") < parse("1.0.0-rc.a")


def test_build_metadata_is_ignored_for_precedence():
    assert parse("1.0.0+a") == parse("1.0.0+b")
    assert hash(parse("1.0.0+a")) == hash(parse("1.0.0"))
    assert len({parse("1.0.0+a"), parse("1.0.0+b")}) == 1


def test_compare_helpers():
    assert compare("1.0.0", "1.0.1") == -1
    assert compare("1.0.1", "1.0.0") == 1
    assert compare("1.0.0+x", "1.0.0") == 0
    assert parse("1.0.0").compare("1.0.0-rc.1") == 1


def test_sort_versions():
    assert sort_versions(["1.10.0", "1.2.0", "1.2.0-beta", "0.9.9"]) == \
        ["0.9.9", "1.2.0-beta", "1.2.0", "1.10.0"]
    assert sort_versions(["1.0.0", "2.0.0"], reverse=True) == ["2.0.0", "1.0.0"]


def test_bumps():
    v = parse("1.2.3")
    assert str(v.bump_major()) == "2.0.0"
    assert str(v.bump_minor()) == "1.3.0"
    assert str(v.bump_patch()) == "1.2.4"
    assert str(parse("2.0.0-rc.1").bump_major()) == "2.0.0"
    assert str(parse("1.3.0-rc.1").bump_minor()) == "1.3.0"
    assert str(parse("1.2.4-rc.1").bump_patch()) == "1.2.4"


def test_bump_prerelease():
    assert str(parse("1.2.3").bump_prerelease()) == "1.2.4-0"
    assert str(parse("1.2.3").bump_prerelease("rc")) == "1.2.4-rc.0"
    assert str(parse("1.2.4-rc.0").bump_prerelease()) == "1.2.4-rc.1"
    assert str(parse("1.2.4-rc.9").bump_prerelease()) == "1.2.4-rc.10"
    assert str(parse("1.2.4-beta").bump_prerelease()) == "1.2.4-beta.0"
    assert str(parse("1.2.4-beta.3").bump_prerelease("rc")) == "1.2.4-rc.0"


def test_coerce_and_immutability():
    assert Version.coerce("release 2.1 final") == Version(2, 1, 0)
    assert Version.coerce("v3") == Version(3, 0, 0)
    with pytest.raises(InvalidVersion):
        Version.coerce("none here")
    with pytest.raises(AttributeError):
        parse("1.0.0").major = 2
