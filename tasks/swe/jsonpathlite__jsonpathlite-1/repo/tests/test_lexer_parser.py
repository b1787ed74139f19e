import pytest

from jsonpathlite import JSONPathSyntaxError, compile
from jsonpathlite.lexer import tokenize
from jsonpathlite.parser import Child, Descend, Filter, Index, Slice, Wildcard, parse


def test_tokenize_kinds():
    kinds = [t.kind for t in tokenize("$.a[0:-1]")]
    assert kinds == ["$", ".", "NAME", "[", "NUMBER", ":", "NUMBER", "]", "EOF"]


def test_tokenize_strings_and_numbers():
    toks = tokenize("['it\\'s', 1.5, -2]")
    values = [t.value for t in toks if t.kind in ("STRING", "NUMBER")]
    assert values == ["it's", 1.5, -2]


def test_parse_segments():
    assert parse("$.a['b','c'][1,2][1:3]..d.*") == (
        Child(("a",)),
        Child(("b", "c")),
        Index((1, 2)),
        Slice(1, 3, None),
        Descend(Child(("d",))),
        Wildcard(),
    )


def test_parse_slice_forms():
    assert parse("$[:]") == (Slice(None, None, None),)
    assert parse("$[::2]") == (Slice(None, None, 2),)
    assert parse("$[-3:]") == (Slice(-3, None, None),)


def test_parse_filter():
    (seg,) = parse("$[?(@.a > 1 && !@.b)]")
    assert isinstance(seg, Filter)


def test_syntax_errors():
    for bad in ["a.b", "$.", "$[", "$[1:2:3:4]", "$[1.5]", "$[?(@.a >)]", "$#", "$.a]"]:
        with pytest.raises(JSONPathSyntaxError):
            compile(bad)


def test_compile_is_cached():
    assert compile("$.x.y") is compile("$.x.y")
    assert repr(compile("$.x")) == "JSONPath('$.x')"
