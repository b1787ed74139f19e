import pytest

from textwrapx import TextWrapper, fill, fill_paragraphs, shorten, wrap

TEXT = "The quick brown fox jumps over the lazy dog and keeps running far away"


def test_basic_wrap():
    assert wrap(TEXT, 20) == [
        "The quick brown fox",
        "jumps over the lazy",
        "dog and keeps",
        "running far away",
    ]


def test_lines_never_exceed_width():
    for width in range(8, 40):
        for line in wrap(TEXT, width):
            assert len(line) <= width


def test_empty_and_blank_text():
    assert wrap("", 10) == []
    assert wrap("   \n\t  ", 10) == []
    assert fill("", 10) == ""


def test_whitespace_is_collapsed():
    assert wrap("a   b\n\n c", 10) == ["a b c"]


def test_tabs_are_whitespace():
    assert wrap("alpha\tbeta", 30) == ["alpha beta"]


def test_invalid_width():
    with pytest.raises(ValueError):
        wrap("hello", 0)
    with pytest.raises(ValueError):
        TextWrapper(width=-3)


def test_indent_wider_than_width():
    with pytest.raises(ValueError):
        wrap("abc def", 3, initial_indent=">>> ")


def test_initial_and_subsequent_indent():
    assert wrap(TEXT, 22, initial_indent="* ", subsequent_indent="  ") == [
        "* The quick brown fox",
        "  jumps over the lazy",
        "  dog and keeps",
        "  running far away",
    ]


def test_long_word_is_split():
    assert wrap("a supercalifragilistic word", 8) == [
        "a", "supercal", "ifragili", "stic", "word",
    ]


def test_long_word_hyphenated():
    assert wrap("a supercalifragilistic word", 8, hyphenate=True) == [
        "a", "superca-", "lifragi-", "listic", "word",
    ]


def test_long_word_kept_when_not_breaking():
    assert wrap("a supercalifragilistic word", 8, break_long_words=False) == [
        "a", "supercalifragilistic", "word",
    ]


def test_max_lines_with_placeholder():
    assert wrap(TEXT, 20, max_lines=2) == [
        "The quick brown fox",
        "jumps over the [...]",
    ]
    assert wrap(TEXT, 30, max_lines=1, placeholder="...") == [
        "The quick brown fox jumps...",
    ]


def test_invalid_max_lines():
    with pytest.raises(ValueError):
        TextWrapper(max_lines=0)


def test_fill_joins_lines():
    assert fill(TEXT, 20) == "\n".join(wrap(TEXT, 20))


def test_fill_paragraphs():
    text = "First para is here.\n\n\nSecond one is\nalso here."
    assert fill_paragraphs(text, 12) == (
        "First para\nis here.\n\nSecond one\nis also\nhere."
    )


def test_shorten_fits():
    assert shorten("  Hello   world  ", 20) == "Hello world"


def test_shorten_truncates():
    assert shorten("Hello   world, this is long", 18) == "Hello world, [...]"


def test_shorten_placeholder_too_large():
    with pytest.raises(ValueError):
        shorten("Hello world", 3, placeholder=" [...]")
