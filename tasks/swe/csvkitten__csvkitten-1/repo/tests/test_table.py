import pytest

from csvkitten import FLOAT, INT, Table, read_csv_text

DATA = """\
city,country,pop,area
Oslo,NO,709,454.0
Bergen,NO,286,465.3
Lyon,FR,522,47.87
Paris,FR,2102,105.4
Nice,FR,NA,71.92
"""


@pytest.fixture
def cities():
    return read_csv_text(DATA)


def test_filter_and_where(cities):
    assert cities.filter(country="NO").column("city") == ["Oslo", "Bergen"]
    assert cities.filter(lambda r: r["area"] < 100).column("city") == ["Lyon", "Nice"]
    assert cities.where("pop", ">", 600).column("city") == ["Oslo", "Paris"]
    assert cities.where("city", "in", {"Nice", "Lyon"}).column("city") == ["Lyon", "Nice"]
    with pytest.raises(KeyError):
        cities.filter(nope=1)


def test_sort_by_puts_missing_last(cities):
    assert cities.sort_by("pop").column("city") == ["Bergen", "Lyon", "Oslo", "Paris", "Nice"]
    assert cities.sort_by("pop", reverse=True).column("city") == \
        ["Paris", "Oslo", "Lyon", "Bergen", "Nice"]


def test_sort_by_several_columns(cities):
    assert cities.sort_by("country", "area").column("city") == \
        ["Lyon", "Nice", "Paris", "Oslo", "Bergen"]


def test_group_by_keeps_first_appearance_order(cities):
    groups = cities.group_by("country")
    assert list(groups) == ["NO", "FR"]
    assert groups["FR"].column("city") == ["Lyon", "Paris", "Nice"]


def test_aggregate(cities):
    result = cities.aggregate("country", total=("pop", "sum"), n=("pop", "count"),
                              biggest=("area", "max"))
    assert result.columns == ["country", "total", "n", "biggest"]
    assert result.types[1:] == [INT, INT, FLOAT]
    assert result.rows == [["NO", 995, 2, 465.3], ["FR", 2624, 2, 105.4]]
    with pytest.raises(ValueError):
        cities.aggregate("country", x=("pop", "median"))


def test_select_add_column_and_summary(cities):
    small = cities.select("city", "pop").head(2)
    assert list(small) == [{"city": "Oslo", "pop": 709}, {"city": "Bergen", "pop": 286}]
    dense = cities.add_column("density", lambda r: r["pop"] and round(r["pop"] / r["area"], 2),
                              FLOAT)
    assert dense.column("density")[:2] == [1.56, 0.61]
    assert cities.summary("pop") == {"count": 4, "missing": 1, "min": 286, "max": 2102,
                                     "mean": 904.75}
    assert cities.distinct("country") == ["NO", "FR"]


def test_table_validates_shape():
    with pytest.raises(ValueError):
        Table(["a", "b"], [[1]])
    with pytest.raises(ValueError):
        Table(["a"], [], types=["int", "str"])
