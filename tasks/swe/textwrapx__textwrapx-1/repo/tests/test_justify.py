import pytest

from textwrapx import align_line, justify, justify_line

TEXT = "The quick brown fox jumps over the lazy dog and keeps running far away"


def test_full_justify():
    assert justify(TEXT, 20).split("\n") == [
        "The  quick brown fox",
        "jumps  over the lazy",
        "dog     and    keeps",
        "running far away",
    ]


def test_right_align():
    assert justify(TEXT, 20, align="right").split("\n") == [
        " The quick brown fox",
        " jumps over the lazy",
        "       dog and keeps",
        "    running far away",
    ]


def test_center_align():
    assert justify(TEXT, 20, align="center").split("\n") == [
        "The quick brown fox",
        "jumps over the lazy",
        "   dog and keeps",
        "  running far away",
    ]


def test_left_align():
    assert justify(TEXT, 20, align="left") == "\n".join([
        "The quick brown fox",
        "jumps over the lazy",
        "dog and keeps",
        "running far away",
    ])


def test_justify_line_extra_spaces_go_left():
    assert justify_line("a b c d", 11) == "a   b  c  d"


def test_justify_line_single_word():
    assert justify_line("word", 8) == "word    "


def test_justify_line_too_long():
    assert justify_line("abc  def", 5) == "abc def"


def test_align_line_unknown():
    with pytest.raises(ValueError):
        align_line("x", 5, "diagonal")


def test_justify_unknown_alignment():
    with pytest.raises(ValueError):
        justify("some text", 10, align="middle")


def test_justify_rejects_indent():
    with pytest.raises(TypeError):
        justify("some text", 10, initial_indent="  ")
