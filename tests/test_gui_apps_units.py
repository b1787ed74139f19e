"""Units of claw/GUI-v0's app domains (no desktop needed): the metrics of VLC, GIMP, LibreOffice, plain files
and VS Code's JSON files on hand-made file pairs that should and should not match; the file → app table;
the unsupported apps and metrics named with their reasons; the set-up steps' command names."""

from __future__ import annotations

import json

import pytest

from claw_envs.gui import metrics_apps as m
from claw_envs.gui.apps import PROFILE_FILES, UNSUPPORTED_APPS, check_app_available, opener
from claw_envs.gui.metrics import metric
from claw_envs.gui.osworld import Unsupported

VLCRC = """\
[qt] # Qt interface
# Show background cone (boolean)
#qt-bgcone=1
{extra}
[core]
#input-record-path=
"""


def _vlcrc(tmp_path, extra: str = "") -> str:
    p = tmp_path / "vlcrc"
    p.write_text(VLCRC.format(extra=extra))
    return str(p)


@pytest.mark.parametrize("fn,key,rule_key,good,bad_default", [
    ("check_qt_bgcone", "qt-bgcone", "expected_qt_bgcone", "0", True),
    ("check_qt_max_volume", "qt-max-volume", "expected_qt_max_volume", "200", True),
    ("check_qt_minimal_view", "qt-minimal-view", "expected_qt_minimal_view", "1", True),
    ("check_one_instance_when_started_from_file", "one-instance-when-started-from-file",
     "expected_one_instance_when_started_from_file", "0", True),
])
def test_vlc_setting_metrics_read_set_lines_and_defaults(tmp_path, fn, key, rule_key, good, bad_default):
    f = metric(fn)
    rule = {rule_key: int(good)}
    assert f(_vlcrc(tmp_path, f"{key}={good}"), rule) == 1.0
    assert f(_vlcrc(tmp_path), rule) == 0.0  # still VLC's default (a commented line or none)
    assert f(_vlcrc(tmp_path, f"#{key}={good}"), rule) == 0.0  # a commented line is not a setting
    assert f(None, rule) == 0.0
    assert f(str(tmp_path / "missing"), rule) == 0.0


def test_vlc_recordings_folder_slider_colours_and_hotkey(tmp_path):
    assert m.is_vlc_recordings_folder(_vlcrc(tmp_path, "input-record-path=/home/user/Desktop/"),
                                      {"recording_file_path": "/home/user/Desktop"}) == 1.0
    assert m.is_vlc_recordings_folder(_vlcrc(tmp_path, "input-record-path=~/Desktop"),
                                      {"recording_file_path": "/home/user/Desktop"}) == 1.0
    assert m.is_vlc_recordings_folder(_vlcrc(tmp_path, "input-record-path=/tmp"),
                                      {"recording_file_path": "/home/user/Desktop"}) == 0.0
    assert m.is_vlc_recordings_folder(_vlcrc(tmp_path), {"recording_file_path": "/home/user/Desktop"}) == 0.0
    dark = "qt-slider-colours=10;10;10;20;20;20;0;0;0;30;30;30"
    assert m.check_qt_slider_colours(_vlcrc(tmp_path, dark), {"type": "blackish"}) == 1.0
    light = "qt-slider-colours=153;210;153;20;210;20;255;199;15;245;39;29"
    assert m.check_qt_slider_colours(_vlcrc(tmp_path, light), {"type": "blackish"}) == 0.0
    assert m.check_qt_slider_colours(_vlcrc(tmp_path), {"type": "blackish"}) == 0.0
    assert m.check_global_key_play_pause(_vlcrc(tmp_path, "global-key-play-pause=Ctrl+Space"),
                                         {"expected_global_key_play_pause": 1}) == 1.0
    assert m.check_global_key_play_pause(_vlcrc(tmp_path), {"expected_global_key_play_pause": 1}) == 0.0


STATUS = """<?xml version="1.0" encoding="utf-8" standalone="yes" ?><root><state>{state}</state>
<information><category name="meta"><info name='filename'>{name}</info></category></information></root>"""


def test_is_vlc_playing_reads_status_xml(tmp_path):
    p = tmp_path / "status.xml"
    p.write_text(STATUS.format(state="playing", name="song.mp3"))
    assert m.is_vlc_playing(str(p), {"type": "file", "file_name": "/home/user/Music/song.mp3"}) == 1.0
    assert m.is_vlc_playing(str(p), {"type": "file", "file_name": "other.mp3"}) == 0.0
    p.write_text(STATUS.format(state="paused", name="song.mp3"))
    assert m.is_vlc_playing(str(p), {"type": "file", "file_name": "song.mp3"}) == 0.0
    p.write_text(STATUS.format(state="playing", name="master.m3u8"))
    assert m.is_vlc_playing(str(p), {"type": "url", "url": "https://x.example/a/master.m3u8"}) == 1.0
    assert m.is_vlc_playing(None, {"type": "url", "url": "x"}) == 0.0
    assert m.is_vlc_fullscreen({"width": 1280, "height": 720}, {"width": 1280, "height": 720}) == 1.0
    assert m.is_vlc_fullscreen({"width": 640, "height": 480}, {"width": 1280, "height": 720}) == 0.0


def test_gimp_config_status(tmp_path):
    p = tmp_path / "gimprc"
    p.write_text('# GIMP gimprc\n(undo-levels 100)\n(theme "Dark")\n')
    assert m.check_config_status(str(p), {"type:": "key-value", "key": "undo-levels", "value": "100"}) == 1.0
    assert m.check_config_status(str(p), [{"key": "undo-levels", "value": "100"}, {"key": "theme", "value": "Dark"}]) == 1.0
    assert m.check_config_status(str(p), {"key": "undo-levels", "value": "5"}) == 0.0
    assert m.check_config_status(str(p), {"key": "default-image", "value": "1"}) == 0.0
    assert m.check_config_status(None, {"key": "undo-levels", "value": "100"}) == 0.0


def test_libreoffice_auto_saving_time(tmp_path):
    p = tmp_path / "registrymodifications.xcu"
    item = ('<item oor:path="/org.openoffice.Office.Recovery/AutoSave"><prop oor:name="TimeIntervall" '
            'oor:op="fuse"><value>{v}</value></prop></item>')
    base = PROFILE_FILES["/home/user/.config/libreoffice/4/user/registrymodifications.xcu"]
    p.write_text(base.replace("</oor:items>", item.format(v=3) + "</oor:items>"))
    assert m.check_auto_saving_time(str(p), {"minutes": 3}) == 1.0
    assert m.check_auto_saving_time(str(p), {"minutes": 10}) == 0.0
    p.write_text(base)  # the desktop's fresh profile: no auto-save interval set
    assert m.check_auto_saving_time(str(p), {"minutes": 3}) == 0.0
    p.write_text("not xml")
    assert m.check_auto_saving_time(str(p), {"minutes": 3}) == 0.0


def test_plain_file_metrics(tmp_path):
    p = tmp_path / "report.txt"
    rows = "\n".join(f"12:00:{i:02d}  all  1.0  0.0" for i in range(1, 31))
    p.write_text(f"Linux 6.1 (desktop)\n\n12:00:00  CPU  %user  %nice  %system  %iowait  %steal  %idle\n{rows}\n"
                 "Average: all 1.0\n")
    want = ["CPU", "%user", "%nice", "%system", "%iowait", "%steal", "%idle"]
    assert m.file_contains(str(p), {"expected": want}) == 1.0
    assert m.file_contains(str(p), {"expected": [*want, "%gnice"]}) == 0.0
    assert m.check_line_number(str(p), {"expected": "31"}) == 1.0
    assert m.check_line_number(str(p), {"expected": "30"}) == 0.0
    assert m.check_image_file_size(str(p), {"max_size": 100000}) == 1.0
    assert m.check_image_file_size(str(p), {"max_size": 10}) == 0.0
    assert m.check_image_file_size(None, {"max_size": 10}) == 0.0


def test_vscode_json_metrics(tmp_path):
    kb = tmp_path / "keybindings.json"
    kb.write_text('// keys\n[\n  {"key": "ctrl+j", "command": "editor.action.joinLines"}, // join\n]\n')
    want = {"expected": {"key": "ctrl+j", "command": "editor.action.joinLines"}}
    assert m.check_json_keybindings(str(kb), want) == 1.0
    assert m.check_json_keybindings(str(kb), {"expected": {"key": "ctrl+k", "command": "x"}}) == 0.0
    cfg = tmp_path / "settings.conf"
    cfg.write_text("a=1\n")
    assert m.compare_config(str(cfg), {"expected": "a=1"}) == 1.0
    assert m.compare_config(str(cfg), {"expected": "a=2"}) == 0.0
    listing = "ms-python.python\nms-toolsai.jupyter\n"
    assert m.is_extension_installed(listing, {"type": "contain", "expected": "ms-python.python"}) == 1.0
    assert m.is_extension_installed(listing, {"type": "contain", "expected": "ms-python.pylint"}) == 0.0
    assert m.is_extension_installed(listing, {"type": "not_contain", "expected": "ms-python.pylint"}) == 1.0


def test_files_open_in_their_app_and_unsupported_things_are_named(monkeypatch):
    assert opener("/home/user/a.xlsx") == (["libreoffice", "/home/user/a.xlsx"], "a.xlsx")
    assert opener("/home/user/b.docx")[0][0] == "libreoffice"
    assert opener("/home/user/c.mp4") == (["vlc", "/home/user/c.mp4"], "VLC media player")
    assert opener("/home/user/d.xcf")[0][0] == "gimp"
    assert opener("/home/user/e.txt")[0][0] == "mousepad"
    monkeypatch.setattr("claw_envs.gui.apps.code_server_installed", lambda: False)  # a machine without code-server
    with pytest.raises(Unsupported) as e:
        check_app_available("code")
    assert e.value.kind == "app" and "VS Code" in str(e.value) and "code-server" in str(e.value)
    assert "scripts/setup.sh" in str(e.value)
    monkeypatch.setattr("claw_envs.gui.apps.code_server_installed", lambda: True)
    check_app_available("code")  # code-server is VS Code here
    check_app_available("vlc")  # no error
    assert "nautilus" in UNSUPPORTED_APPS and "code" not in UNSUPPORTED_APPS
    with pytest.raises(Unsupported) as e:
        metric("check_left_panel")
    assert e.value.kind == "metric" and "AT-SPI" in str(e.value)


def test_setup_step_names_skip_env_assignments_and_code_is_unsupported_without_code_server(monkeypatch):
    from claw_envs.gui.setup_steps import _command_name, run_steps
    from claw_envs.gui.tasks import GUITask
    assert _command_name("VLC_VERBOSE=-1 vlc --no-audio") == "vlc"
    assert _command_name(["code", "--list-extensions"]) == "code"
    task = GUITask(id="t", instruction="x", evaluator={"func": "infeasible"})
    monkeypatch.setattr("claw_envs.gui.apps.code_server_installed", lambda: False)

    class _Client:  # without code-server, a launch of `code` is refused before anything reaches the desktop
        has_claw = True

        def state(self):
            raise AssertionError("not reached")

    with pytest.raises(Unsupported) as e:
        run_steps(_Client(), task, [{"type": "launch", "parameters": {"command": ["code"]}}], "config")
    assert e.value.name == "code"


def test_profile_files_are_valid_xml():
    from xml.etree import ElementTree as ET
    for path, text in PROFILE_FILES.items():
        assert path.startswith("/home/user/")
        ET.fromstring(text)
    assert json.dumps(list(PROFILE_FILES))


def test_claw_gui_fetch_fills_the_cache_the_env_reads_offline(tmp_path, capsys):
    import http.server
    import threading

    from claw_envs.gui.downloads import DownloadCache
    from claw_envs.gui.fetch import main

    files = {"/a/in.xlsx": b"input", "/a/gold.xlsx": b"gold"}

    class _H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            data = files.get(self.path)
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    task = {"id": "t1", "instruction": "x",
            "config": [{"type": "download", "parameters": {"files": [{"url": f"{base}/a/in.xlsx",
                                                                      "path": "/home/user/Desktop/in.xlsx"}]}}],
            "evaluator": {"func": "compare_table", "result": {"type": "vm_file", "path": "/home/user/Desktop/in.xlsx"},
                          "expected": {"type": "cloud_file", "path": f"{base}/a/gold.xlsx", "dest": "gold.xlsx"}}}
    bad = {**task, "id": "t2", "config": [{"type": "download", "parameters": {"files": [
        {"url": f"{base}/missing.bin", "path": "m.bin"}]}}]}
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "t1.json").write_text(json.dumps(task))
    cache = tmp_path / "cache"
    try:
        assert main([str(folder), "--cache", str(cache)]) == 0
        assert (cache / "t1" / "in.xlsx").read_bytes() == b"input"
        assert (cache / "t1" / "gold.xlsx").read_bytes() == b"gold"
        assert main([str(folder), "--cache", str(cache)]) == 0
        assert "already cached 2" in capsys.readouterr().out
        (folder / "t2.json").write_text(json.dumps(bad))
        assert main([str(folder), "--cache", str(cache)]) == 1
        assert str(cache / "t2" / "m.bin") in capsys.readouterr().out  # the exact path to put it at
    finally:
        srv.shutdown()
        srv.server_close()
    offline = DownloadCache(str(cache), offline=True)  # what GUIEnv(offline=True) reads
    assert offline.get("t1", f"{base}/a/in.xlsx", "in.xlsx").read_bytes() == b"input"


def _deck(path, text: str = "Quarterly report", bold: bool = False, left: int = 914400, size_pt: int = 28) -> str:
    from pptx import Presentation
    from pptx.util import Emu, Pt
    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    box = slide.shapes.add_textbox(Emu(left), Emu(914400), Emu(4572000), Emu(914400))
    run = box.text_frame.paragraphs[0].add_run()
    run.text = text
    run.font.bold = bold
    run.font.size = Pt(size_pt)
    prs.save(str(path))
    return str(path)


def test_compare_pptx_files_checks_text_formatting_and_geometry(tmp_path):
    f = metric("compare_pptx_files")
    gold = _deck(tmp_path / "gold.pptx", bold=True)
    assert f(_deck(tmp_path / "same.pptx", bold=True), gold) == 1.0
    assert f(_deck(tmp_path / "text.pptx", "Annual report", bold=True), gold) == 0.0
    not_bold = _deck(tmp_path / "plain.pptx", bold=False)  # the no-op of "make the title bold"
    assert f(not_bold, gold) == 0.0
    assert f(not_bold, gold, examine_font_bold=False) == 1.0
    moved = _deck(tmp_path / "moved.pptx", bold=True, left=2 * 914400)
    assert f(moved, gold) == 0.0
    assert f(moved, gold, examine_shape=False) == 1.0
    bigger = _deck(tmp_path / "big.pptx", bold=True, size_pt=40)
    assert f(bigger, gold) == 0.0 and f(bigger, gold, examine_font_size=False) == 1.0
    assert f(str(tmp_path / "missing.pptx"), gold) == 0.0


def _book_file(path, rows) -> str:
    import openpyxl
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    wb.save(str(path))
    return str(path)


def test_compare_table_pairs_and_unimplemented_rules_are_named(tmp_path):
    f = metric("compare_table")
    gold = _book_file(tmp_path / "gold.xlsx", [["item", "cost"], ["rent", 1200], ["total", 1200]])
    assert f(_book_file(tmp_path / "a.xlsx", [["item", "cost"], ["rent", 1200], ["total", 1200]]), gold) == 1.0
    assert f(_book_file(tmp_path / "b.xlsx", [["item", "cost"], ["rent", 1200]]), gold) == 0.0
    with pytest.raises(Unsupported) as e:
        f(gold, gold, rules=[{"type": "sheet_data", "sheet_idx0": "RI0", "sheet_idx1": "EI0"},
                             {"type": "pivot_table", "sheet_idx0": "RI0", "sheet_idx1": "EI0"}])
    assert e.value.kind == "metric" and e.value.name == "compare_table:pivot_table"


def test_compare_docx_files_pairs(tmp_path):
    import docx
    f = metric("compare_docx_files")

    def doc(name, *paras):
        d = docx.Document()
        for p in paras:
            d.add_paragraph(p)
        d.save(str(tmp_path / name))
        return str(tmp_path / name)

    gold = doc("gold.docx", "Dear team,", "The meeting moves to Friday.")
    assert f(doc("a.docx", "Dear team,", "", "The meeting  moves to Friday."), gold) == 1.0  # blanks ignored
    assert f(doc("b.docx", "Dear team,", "The meeting moves to Monday."), gold) == 0.0
    assert f(doc("c.docx", "DEAR TEAM,", "the meeting moves to friday."), gold, ignore_case=True) == 1.0


def test_image_metrics_on_generated_pictures(tmp_path):
    from PIL import Image, ImageDraw

    def pic(name, size=(64, 48), shift=0, alpha=False):
        im = Image.new("RGBA" if alpha else "RGB", size, (0, 0, 0, 0) if alpha else (255, 255, 255))
        d = ImageDraw.Draw(im)
        d.rectangle([10 + shift, 10, 30 + shift, 30], fill=(200, 30, 30, 255))
        d.ellipse([35, 5, 60, 40], fill=(20, 20, 200, 255))
        im.save(tmp_path / name)
        return str(tmp_path / name)

    gold = pic("gold.png")
    assert metric("check_structure_sim")(pic("same.png"), gold) == 1.0
    assert metric("check_structure_sim")(pic("moved.png", shift=25), gold) == 0.0
    assert metric("check_structure_sim")(pic("small.png", size=(32, 24)), gold) == 0.0
    Image.open(gold).resize((128, 96)).save(tmp_path / "big.png")
    assert metric("check_structure_sim_resized")(str(tmp_path / "big.png"), gold) == 1.0
    assert metric("check_structure_sim_resized")(pic("moved2.png", shift=25), gold) == 0.0
    assert metric("check_image_size")(gold, {"width": 64, "height": 48}) == 1.0
    assert metric("check_image_size")(gold, {"height": 512}) == 0.0
    assert metric("check_image_size")(pic("t.png", alpha=True), {"width": 51, "height": 36, "ignore_transparent": True}) == 1.0
    assert metric("check_structure_sim")(None, gold) == 0.0


def test_mp3_tags_and_python_text(tmp_path):
    from mutagen.easyid3 import EasyID3
    song = tmp_path / "song.mp3"
    song.write_bytes(b"\xff\xfb\x90\x00" + b"\x00" * 400)  # one silent MPEG frame header and padding
    tags = EasyID3()
    tags["title"], tags["artist"] = "Missing You", "Cheng Xiang"
    tags.save(str(song))
    rule = {"title": {"method": "eq", "ref": "Missing You"}, "artist": {"method": "eq", "ref": "Cheng Xiang"}}
    assert metric("check_mp3_meta")(str(song), rule) == 1.0
    assert metric("check_mp3_meta")(str(song), {**rule, "artist": {"method": "eq", "ref": "Han Baoyi"}}) == 0.0
    bare = tmp_path / "bare.mp3"
    bare.write_bytes(b"\xff\xfb\x90\x00" + b"\x00" * 400)
    assert metric("check_mp3_meta")(str(bare), rule) == 0.0
    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    a.write_text("# gold\nimport os\n\n\ndef f(x):  # doubles\n    return 2 * x\n")
    b.write_text("import os\ndef f(x):\n    return 2 * x   \n")
    c.write_text("import os\ndef f(x):\n    return 3 * x\n")
    assert metric("compare_python_pure_text")(str(b), str(a)) == 1.0
    assert metric("compare_python_pure_text")(str(c), str(a)) == 0.0


def test_writer_table_spacing_and_page_break_metrics(tmp_path):
    import docx
    from docx.enum.text import WD_BREAK

    def doc(name, cells=("a", "b"), spacing=1.0, breaks=0, text="Hello world"):
        d = docx.Document()
        p = d.add_paragraph(text)
        p.paragraph_format.line_spacing = spacing
        for _ in range(breaks):
            d.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        t = d.add_table(rows=1, cols=2)
        for c, v in zip(t.rows[0].cells, cells, strict=True):
            c.text = v
        d.save(str(tmp_path / name))
        return str(tmp_path / name)

    gold = doc("gold.docx", spacing=2.0, breaks=2)
    assert metric("compare_docx_tables")(doc("t1.docx"), gold) == 1.0
    assert metric("compare_docx_tables")(doc("t2.docx", cells=("a", "c")), gold) == 0.0
    assert metric("compare_line_spacing")(doc("s1.docx", spacing=2.0, breaks=2), gold) == 1.0
    assert metric("compare_line_spacing")(doc("s2.docx", spacing=1.0, breaks=2), gold) == 0.0
    assert metric("contains_page_break")(gold, {"page_break_count": 2}) == 1.0
    assert metric("contains_page_break")(doc("p0.docx"), {"page_break_count": 2}) == 0.0
    assert metric("compare_docx_files_and_ignore_new_lines")(doc("n1.docx", text="Hello\nworld"), gold) == 1.0
    assert metric("compare_docx_files_and_ignore_new_lines")(doc("n2.docx", text="Bye world"), gold) == 0.0


def test_structured_file_metrics(tmp_path):
    import zipfile
    j = tmp_path / "manifest.json"
    j.write_text(json.dumps({"name": "happy-extension", "background": {"scripts": ["bg.js"]}, "version": "0.0.1"}))
    rules = {"expect": [{"key": ["name"], "method": "eq", "ref": "happy-extension"},
                        {"key": ["background", "scripts"], "method": "eq", "ref": ["bg.js"]}],
             "unexpect": [{"key": ["version"], "method": "eq", "ref": "9"}]}
    assert metric("check_json")(str(j), rules) == 1.0
    assert metric("check_json")(str(j), {"expect": [{"key": ["name"], "method": "eq", "ref": "other"}]}) == 0.0
    assert metric("check_json")(str(j), {"unexpect": [{"key": ["version"], "method": "re", "ref": "^0\\."}]}) == 0.0
    c = tmp_path / "accounts.csv"
    c.write_text("url,user,password\nimap://mail.example,me@example.org,password\n")
    assert metric("check_csv")(str(c), {"expect": [{"url": "imap://mail.example", "user": "me@example.org"}]}) == 1.0
    assert metric("check_csv")(str(c), {"expect": [{"url": "smtp://mail.example"}]}) == 0.0
    prefs = tmp_path / "prefs.js"
    prefs.write_text('// Mozilla\nuser_pref("mail.server.default.applyIncomingFilters", true);\n'
                     'user_pref("mail.imap.use_status_for_biff", false);\n')
    rule = {"expect": {"mail.server.default.applyIncomingFilters": {"method": "eq", "ref": True}},
            "unexpect": {"mail.server.default.autosync_offline_stores": {"method": "eq", "ref": False}}}
    assert metric("check_thunderbird_prefs")(str(prefs), rule) == 1.0
    assert metric("check_thunderbird_prefs")(str(prefs), {"expect": {"mail.imap.use_status_for_biff": {
        "method": "eq", "ref": True}}}) == 0.0
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("console.log('hi');\n")
    b.write_text("console.log('hi');\n")
    assert metric("diff_text_file")(str(a), str(b)) == 1.0
    b.write_text("something else entirely\n")
    assert metric("diff_text_file")(str(a), str(b)) < 0.5
    h1, h2 = tmp_path / "1.html", tmp_path / "2.html"
    h1.write_text("<html><body><h1>Title</h1><p>Some   text</p><script>x=1</script></body></html>")
    h2.write_text("<html>\n<body>\n<h1>Title</h1>\n<p>Some text</p></body></html>")
    assert metric("compare_htmls")(str(h1), str(h2)) == 1.0
    h2.write_text("<h1>Other</h1><p>Some text</p>")
    assert metric("compare_htmls")(str(h1), str(h2)) == 0.0
    for name, content in (("z1.zip", b"one"), ("z2.zip", b"one"), ("z3.zip", b"two")):
        with zipfile.ZipFile(tmp_path / name, "w") as z:
            z.writestr("slides/a.pdf", content)
    assert metric("compare_archive")(str(tmp_path / "z1.zip"), str(tmp_path / "z2.zip")) == 1.0
    assert metric("compare_zip_files")(str(tmp_path / "z1.zip"), str(tmp_path / "z3.zip")) == 0.0


def test_image_list_and_mirror(tmp_path):
    from PIL import Image, ImageDraw
    im = Image.new("RGB", (40, 20), "white")
    ImageDraw.Draw(im).rectangle([2, 2, 10, 10], fill="red")
    im.save(tmp_path / "orig.png")
    im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "mirror.png")
    im.transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(tmp_path / "upside.png")
    o, m_, u = (str(tmp_path / n) for n in ("orig.png", "mirror.png", "upside.png"))
    assert metric("check_image_mirror")(m_, o) == 1.0
    assert metric("check_image_mirror")(u, o) == 0.0
    assert metric("compare_image_list")([o, m_], [o, m_]) == 1.0
    assert metric("compare_image_list")([o, m_], [o, u]) == 0.0
