from textwrapx import dedent, expand_tabs, indent, paragraphs, split_words


def test_split_words():
    assert split_words("  one\ttwo\n three  ") == ["one", "two", "three"]
    assert split_words("") == []


def test_expand_tabs():
    assert expand_tabs("a\tb", 4) == "a   b"


def test_dedent_common_margin():
    text = "    def f():\n        return 1\n"
    assert dedent(text) == "def f():\n    return 1\n"


def test_dedent_ignores_blank_lines():
    text = "  a\n\n      \n  b"
    assert dedent(text) == "a\n\n\nb"


def test_dedent_mixed_margin():
    assert dedent("\t  x\n\ty") == "  x\ny"


def test_indent_default_skips_blank():
    assert indent("a\n\nb\n", "> ") == "> a\n\n> b\n"


def test_indent_predicate():
    assert indent("a\n\nb", "+", lambda line: True) == "+a\n+\n+b"


def test_paragraphs():
    text = "\nfirst line\nstill first\n\n  \nsecond\n\n\nthird\n"
    assert paragraphs(text) == ["first line\nstill first", "second", "third"]
