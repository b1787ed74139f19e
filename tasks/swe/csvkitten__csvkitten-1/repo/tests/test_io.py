import io

import pytest

from csvkitten import (CSVFormatError, FLOAT, INT, STR, read_csv, read_csv_text, to_csv_text,
                       write_csv)

SALES = """\
region,rep,units,price,paid
north,ann,10,2.50,yes
south,bob,3,4.00,no
north,cy,7,1.25,yes
"""


def test_read_infers_types():
    table = read_csv_text(SALES)
    assert table.columns == ["region", "rep", "units", "price", "paid"]
    assert table.types == [STR, STR, INT, FLOAT, "bool"]
    assert table.column("units") == [10, 3, 7]
    assert table.column("paid") == [True, False, True]


def test_read_without_inference_and_with_overrides():
    table = read_csv_text(SALES, infer=False)
    assert table.column("units") == ["10", "3", "7"]
    table = read_csv_text(SALES, types={"units": FLOAT})
    assert table.column("units") == [10.0, 3.0, 7.0]
    with pytest.raises(KeyError):
        read_csv_text(SALES, types={"nope": INT})


def test_missing_values_become_none():
    table = read_csv_text("a,b\n1,x\nNA,\n3,z\n")
    assert table.column("a") == [1, None, 3]
    assert table.column("b") == ["x", "", "z"]


def test_malformed_input():
    with pytest.raises(CSVFormatError):
        read_csv_text("")
    with pytest.raises(CSVFormatError):
        read_csv_text("a,b\n1\n")
    with pytest.raises(CSVFormatError):
        read_csv_text("a,a\n1,2\n")


def test_semicolon_delimiter_and_quoting():
    table = read_csv_text('name;note\n"Smith; J";"says ""hi"""\n', delimiter=";")
    assert list(table) == [{"name": "Smith; J", "note": 'says "hi"'}]
    assert to_csv_text(table) == 'name,note\nSmith; J,"says ""hi"""\n'


def test_roundtrip_through_file(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(SALES, encoding="utf-8")
    table = read_csv(str(path))
    out = tmp_path / "copy.csv"
    write_csv(table, str(out))
    assert out.read_text(encoding="utf-8") == (
        "region,rep,units,price,paid\n"
        "north,ann,10,2.5,true\n"
        "south,bob,3,4.0,false\n"
        "north,cy,7,1.25,true\n"
    )


def test_write_to_open_file():
    table = read_csv_text("x,y\n1,2024-01-05\n")
    buffer = io.StringIO()
    write_csv(table, buffer)
    assert buffer.getvalue() == "x,y\n1,2024-01-05\n"
