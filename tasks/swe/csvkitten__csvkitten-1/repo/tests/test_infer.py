import datetime

from csvkitten import (BOOL, DATE, FLOAT, INT, STR, convert, format_value, infer_type,
                       is_missing, value_type)


def test_value_type_basic():
    assert value_type("42") == INT
    assert value_type(" 7 ") == INT
    assert value_type("3.25") == FLOAT
    assert value_type("-2.5") == FLOAT
    assert value_type("1e3") == FLOAT
    assert value_type(".5") == FLOAT
    assert value_type("Yes") == BOOL
    assert value_type("2024-02-29") == DATE
    assert value_type("2023-02-29") == STR
    assert value_type("hello") == STR


def test_missing_markers():
    for text in ("", "  ", "NA", "n/a", "null", "None", "-"):
        assert is_missing(text)
    assert not is_missing("0")


def test_infer_type_of_columns():
    assert infer_type(["1", "2", "30"]) == INT
    assert infer_type(["1", "2.5", ""]) == FLOAT
    assert infer_type(["-0.5", "1.5"]) == FLOAT
    assert infer_type(["true", "no", "NA"]) == BOOL
    assert infer_type(["2024-01-01", ""]) == DATE
    assert infer_type(["1", "x"]) == STR
    assert infer_type(["1", "true"]) == STR
    assert infer_type(["", "NA"]) == STR
    assert infer_type([]) == STR


def test_convert_values():
    assert convert("12", INT) == 12
    assert convert("NA", INT) is None
    assert convert("-1.5", FLOAT) == -1.5
    assert convert("Y", BOOL) is True
    assert convert("2024-03-01", DATE) == datetime.date(2024, 3, 1)
    assert convert("NA", STR) == "NA"


def test_format_value():
    assert format_value(None) == ""
    assert format_value(True) == "true"
    assert format_value(2.0) == "2.0"
    assert format_value(17) == "17"
    assert format_value(datetime.date(2024, 1, 2)) == "2024-01-02"
