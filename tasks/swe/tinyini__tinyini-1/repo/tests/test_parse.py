import pytest

import tinyini
from tinyini import DuplicateKeyError, DuplicateSectionError, ParseError

SAMPLE = """\
# global settings
[server]
host = localhost
port: 8080
Debug = yes

[paths]
root = /srv/app
logs = /var/log/app
"""


def test_basic_sections_and_keys():
    doc = tinyini.loads(SAMPLE)
    assert doc.sections() == ["server", "paths"]
    assert doc["server"]["host"] == "localhost"
    assert doc["server"]["port"] == "8080"
    assert doc["paths"]["logs"] == "/var/log/app"


def test_keys_are_case_insensitive_sections_are_not():
    doc = tinyini.loads(SAMPLE)
    assert doc["server"]["DEBUG"] == "yes"
    assert doc["server"].keys() == ["host", "port", "Debug"]
    assert "Server" not in doc
    with pytest.raises(tinyini.NoSectionError):
        doc["Server"]


def test_full_line_comments_and_blank_lines_are_ignored():
    doc = tinyini.loads("; leading\n\n[a]\n# note\nx = 1\n   \n; end\n")
    assert doc["a"].to_dict() == {"x": "1"}


def test_inline_comment_is_stripped():
    doc = tinyini.loads("[a]\nx = 1 ; one\ny = two   # second\n")
    assert doc["a"]["x"] == "1"
    assert doc["a"]["y"] == "two"


def test_hash_without_preceding_space_is_kept():
    doc = tinyini.loads("[web]\nurl = http://example.com/#top\nre = a;b\n")
    assert doc["web"]["url"] == "http://example.com/#top"
    assert doc["web"]["re"] == "a;b"


def test_quoted_value_keeps_comment_characters():
    doc = tinyini.loads('[a]\npattern = "a ; b # c"  ; real comment\nsp = \'  padded  \'\n')
    assert doc["a"]["pattern"] == "a ; b # c"
    assert doc["a"]["sp"] == "  padded  "


def test_continuation_lines():
    doc = tinyini.loads("[a]\nhosts = one\n    two\n    three\nnext = x\n")
    assert doc["a"]["hosts"] == "one\ntwo\nthree"
    assert doc["a"].getlist("hosts") == ["one", "two", "three"]
    assert doc["a"]["next"] == "x"


def test_section_header_with_comment_and_spaces():
    doc = tinyini.loads("[ my section ]  ; about it\nk = v\n")
    assert doc.sections() == ["my section"]


def test_duplicate_section_is_error_in_strict_mode():
    with pytest.raises(DuplicateSectionError):
        tinyini.loads("[a]\nx=1\n[a]\ny=2\n")
    doc = tinyini.loads("[a]\nx=1\n[a]\ny=2\n", strict=False)
    assert doc["a"].to_dict() == {"x": "1", "y": "2"}


def test_duplicate_key_is_error_in_strict_mode():
    with pytest.raises(DuplicateKeyError) as info:
        tinyini.loads("[a]\nx = 1\nX = 2\n")
    assert info.value.lineno == 3
    doc = tinyini.loads("[a]\nx = 1\nX = 2\n", strict=False)
    assert doc["a"]["x"] == "2"


def test_option_before_any_section_is_error():
    with pytest.raises(ParseError) as info:
        tinyini.loads("x = 1\n[a]\n")
    assert "line 1" in str(info.value)


def test_missing_delimiter():
    with pytest.raises(ParseError):
        tinyini.loads("[a]\njust-a-word\n")
    doc = tinyini.loads("[a]\njust-a-word\n", allow_no_value=True)
    assert doc["a"]["just-a-word"] is None


def test_defaults_section_provides_fallbacks():
    doc = tinyini.loads("[DEFAULT]\ntimeout = 30\n[a]\nname = x\n[b]\ntimeout = 5\n")
    assert doc.sections() == ["a", "b"]
    assert doc["a"]["timeout"] == "30"
    assert doc["b"]["timeout"] == "5"
    assert doc["a"].items(with_defaults=True) == [("name", "x"), ("timeout", "30")]


def test_read_file(tmp_path):
    path = tmp_path / "app.ini"
    path.write_text("\ufeff[a]\nx = 1\n", encoding="utf-8")
    doc = tinyini.read(str(path))
    assert doc.get("a", "x") == "1"
