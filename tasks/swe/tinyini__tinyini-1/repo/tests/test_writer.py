import tinyini


def test_dumps_simple_document():
    doc = tinyini.IniDocument()
    doc.set("server", "Host", "localhost")
    doc.set("server", "port", 8080)
    doc.set("paths", "root", "/srv")
    assert tinyini.dumps(doc) == "[server]\nHost = localhost\nport = 8080\n\n[paths]\nroot = /srv\n"


def test_dumps_default_first_and_compact_delimiters():
    doc = tinyini.IniDocument()
    doc.set("a", "x", "1")
    doc.defaults["y"] = "2"
    assert tinyini.dumps(doc, space_around_delimiters=False) == "[DEFAULT]\ny=2\n\n[a]\nx=1\n"


def test_format_value_quotes_when_needed():
    assert tinyini.format_value("plain") == "plain"
    assert tinyini.format_value("  padded") == '"  padded"'
    assert tinyini.format_value("a ; b") == '"a ; b"'
    assert tinyini.format_value('say "hi" # now') == "'say \"hi\" # now'"
    assert tinyini.format_value("http://x/#y") == "http://x/#y"


def test_roundtrip_multiline_and_quoted_values():
    doc = tinyini.IniDocument()
    doc.set("a", "hosts", "one\ntwo")
    doc.set("a", "pattern", "x # y")
    doc.set("a", "space", " lead")
    text = tinyini.dumps(doc)
    assert tinyini.loads(text) == doc


def test_remove_section_and_key():
    doc = tinyini.loads("[a]\nx = 1\ny = 2\n[b]\nz = 3\n")
    del doc["a"]["X"]
    doc.remove_section("b")
    assert tinyini.dumps(doc) == "[a]\ny = 2\n"
