import pytest

import tinyini
from tinyini import CoercionError, to_bool, to_duration, to_int, to_list


def test_to_bool_words():
    assert to_bool("Yes") is True
    assert to_bool("off") is False
    assert to_bool(" 1 ") is True
    with pytest.raises(CoercionError):
        to_bool("maybe")


def test_to_int_forms():
    assert to_int("42") == 42
    assert to_int("-7") == -7
    assert to_int("0x1F") == 31
    assert to_int("1_000") == 1000
    assert to_int("007") == 7
    with pytest.raises(CoercionError):
        to_int("4.5")


def test_to_list_commas_and_lines():
    assert to_list("a, b,,c ") == ["a", "b", "c"]
    assert to_list("a\nb, c") == ["a", "b", "c"]
    assert to_list("a|b", separator="|") == ["a", "b"]


def test_to_duration():
    assert to_duration("30") == 30.0
    assert to_duration("250ms") == pytest.approx(0.25)
    assert to_duration("5m") == 300.0
    assert to_duration("1.5h") == 5400.0
    with pytest.raises(CoercionError):
        to_duration("soon")


def test_section_typed_getters():
    doc = tinyini.loads("[db]\nport = 5432\nratio = 0.75\nssl = on\nretry = 2s\n")
    db = doc["db"]
    assert db.getint("port") == 5432
    assert db.getfloat("ratio") == 0.75
    assert db.getboolean("ssl") is True
    assert db.getduration("retry") == 2.0
    assert db.getint("missing", fallback=3) == 3
    with pytest.raises(tinyini.NoOptionError):
        db.getint("missing")


def test_document_typed_getters_with_fallback():
    doc = tinyini.loads("[db]\nport = 5432\n")
    assert doc.getint("db", "port") == 5432
    assert doc.getboolean("nope", "x", fallback=False) is False
    with pytest.raises(tinyini.NoSectionError):
        doc.getint("nope", "x")
