import pytest

from jsonpathlite import JSONPathError, query

DATA = {"xs": ["a", "b", "c", "d", "e"]}


def test_simple_slice():
    assert query("$.xs[1:3]", DATA) == ["b", "c"]


def test_open_ended_slices():
    assert query("$.xs[:2]", DATA) == ["a", "b"]
    assert query("$.xs[3:]", DATA) == ["d", "e"]
    assert query("$.xs[:]", DATA) == ["a", "b", "c", "d", "e"]


def test_negative_bounds_within_range():
    assert query("$.xs[-2:]", DATA) == ["d", "e"]
    assert query("$.xs[:-3]", DATA) == ["a", "b"]
    assert query("$.xs[-4:-2]", DATA) == ["b", "c"]


def test_steps():
    assert query("$.xs[::2]", DATA) == ["a", "c", "e"]
    assert query("$.xs[::-1]", DATA) == ["e", "d", "c", "b", "a"]
    assert query("$.xs[3:0:-1]", DATA) == ["d", "c", "b"]


def test_bounds_past_the_end():
    assert query("$.xs[2:100]", DATA) == ["c", "d", "e"]
    assert query("$.xs[100:]", DATA) == []
    assert query("$.xs[100::-2]", DATA) == ["e", "c", "a"]


def test_zero_step_rejected():
    with pytest.raises(JSONPathError):
        query("$.xs[::0]", DATA)


def test_slice_then_member(store):
    assert query("$.store.book[1:3].title", store) == ["Sword", "Moby Dick"]
