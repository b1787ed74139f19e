"""OSWorld compatibility pieces that need no desktop: placeholders, the download cache (against a real HTTP
server on 127.0.0.1), relative dates, the check's bookkeeping, and the metrics on files written by the
format's own library (python-docx, python-pptx, openpyxl, Pillow, sqlite3)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import sqlite3
import threading
import uuid
from pathlib import Path

import pytest

from claw_envs.gui.check import (
    DOWNLOAD,
    RAN,
    UNSUPPORTED,
    CheckResult,
    coverage,
    format_table,
    needs_download,
)
from claw_envs.gui.downloads import DownloadCache
from claw_envs.gui.getters import getter
from claw_envs.gui.metrics import check_direct_json_object, is_expected_tabs, metric
from claw_envs.gui.osworld import DownloadNeeded, Placeholders, Unsupported
from claw_envs.gui.relative_time import get_rule_relativeTime, render, resolve
from claw_envs.gui.tasks import load_gui_task

OSWORLD = Path(__file__).resolve().parents[1].parent / "shared" / "osworld"


def test_placeholders_are_substituted_everywhere_and_other_braces_kept():
    p = Placeholders(1280, 720, "pw")
    cmd = ["python", "-c", "import pyautogui; pyautogui.click({SCREEN_WIDTH_HALF}, {SCREEN_HEIGHT_HALF}); d={'a': 1}"]
    assert p.apply(cmd)[2] == "import pyautogui; pyautogui.click(640, 360); d={'a': 1}"
    assert p.apply({"command": "echo {CLIENT_PASSWORD} | sudo -S ls", "n": 3}) == {"command": "echo pw | sudo -S ls",
                                                                                   "n": 3}
    assert p.apply("{SCREEN_WIDTH}x{SCREEN_HEIGHT} {UNKNOWN}") == "1280x720 {UNKNOWN}"


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        body = b"payload" if self.path == "/f.txt" else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_download_cache_fetches_reuses_and_names_what_is_missing(tmp_path):
    _Handler.hits = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        cache = DownloadCache(str(tmp_path))
        p = cache.get("task-1", f"{base}/f.txt", "renamed.txt")
        assert p == tmp_path / "task-1" / "renamed.txt" and p.read_bytes() == b"payload"
        assert cache.get("task-1", f"{base}/f.txt", "renamed.txt") == p and _Handler.hits == ["/f.txt"]
        with pytest.raises(DownloadNeeded) as e:
            cache.get("task-1", f"{base}/missing.bin", "missing.bin")
        assert f"{base}/missing.bin" in str(e.value) and str(tmp_path / "task-1" / "missing.bin") in str(e.value)
    finally:
        srv.shutdown()
        srv.server_close()
    offline = DownloadCache(str(tmp_path), offline=True)
    assert offline.get("task-1", f"{base}/f.txt", "renamed.txt").read_bytes() == b"payload"  # still reused
    with pytest.raises(DownloadNeeded, match="offline"):
        offline.get("task-2", "https://example.org/x.zip", "x.zip")
    # OSWorld's own cache naming (<uuid5(url)>_<name>) is found too
    url = "https://example.org/y.sh"
    (tmp_path / "task-3").mkdir()
    (tmp_path / "task-3" / f"{uuid.uuid5(uuid.NAMESPACE_URL, url)}_y.sh").write_text("osworld")
    assert offline.get("task-3", url, "y.sh").read_text() == "osworld"


def test_relative_dates_follow_the_phrases():
    monday = dt.date(2026, 11, 30)
    assert resolve("tomorrow", monday) == dt.date(2026, 12, 1)
    assert resolve("next Monday", monday) == dt.date(2026, 12, 7)
    assert resolve("next Friday split", monday) == dt.date(2026, 12, 4)
    assert resolve("next week Saturday", monday) == dt.date(2026, 12, 12)
    assert resolve("10th next month", monday) == dt.date(2026, 12, 10)
    assert resolve("first monday eight months later", monday) == dt.date(2027, 7, 5)
    assert render("{DoW}, {Month} {Day0D}, {Year} {Month0D}/{DayD} {month}", dt.date(2027, 7, 5)) == \
        "Mon, Jul 05, 2027 07/5 july"
    with pytest.raises(Unsupported):
        resolve("the day after the next full moon", monday)
    out = get_rule_relativeTime(None, {"rules": {"relativeTime": {"from": "today", "to": "tomorrow"},
                                                 "expected": {"from": "{DayD}", "to": "{DayD}", "x": 1},
                                                 "expect_in_result": True}})
    today = dt.date.today()
    assert out["expected"] == {"from": str(today.day), "to": str((today + dt.timedelta(days=1)).day), "x": 1}
    assert out["expect_in_result"] is True


def test_unknown_getters_and_metrics_are_named():
    with pytest.raises(Unsupported) as e:
        getter("no_such_getter")
    assert (e.value.kind, e.value.name) == ("getter", "no_such_getter")
    with pytest.raises(Unsupported) as e:
        metric("no_such_metric")
    assert (e.value.kind, e.value.name) == ("metric", "no_such_metric")
    for name in ("compare_pdfs", "compare_docx_files", "compare_pptx_files", "compare_images", "check_moved_jpgs",
                 "is_expected_bookmarks", "is_cookie_deleted", "check_history_deleted", "check_json_settings"):
        assert callable(metric(name))
    for name in ("bookmarks", "enable_do_not_track", "active_tab_url_parse", "rule_relativeTime", "history"):
        assert callable(getter(name))


def test_json_object_and_tab_rules():
    assert check_direct_json_object({"q": "drip coffee maker black"}, {"expected": {"q": "drip coffee maker"},
                                                                       "expect_in_result": True}) == 1.0
    assert check_direct_json_object({"q": "tea"}, {"expected": {"q": "drip coffee maker"}}) == 0.0
    assert check_direct_json_object({"m": ["b", "a"]}, {"expected": {"m": ["a", "b"]}, "ignore_list_order": True}) == 1.0
    tabs = [{"url": "https://www.airbnb.com/"}, {"url": "https://a.org/?x=1&y=2"}]
    assert is_expected_tabs(tabs, {"urls": ["https://a.org?y=2&x=1", "https://www.airbnb.com"]}) == 1.0
    assert is_expected_tabs(tabs[:1], {"urls": ["https://a.org", "https://www.airbnb.com"]}) == 0.0


def test_file_metrics_read_files_with_their_libraries(tmp_path):
    docx = pytest.importorskip("docx", reason="python-docx is not installed (pip install 'claw-gym[gui]')")
    pptx = pytest.importorskip("pptx", reason="python-pptx is not installed (pip install 'claw-gym[gui]')")
    from PIL import Image

    def doc(name: str, paras: list[str]) -> str:
        d = docx.Document()
        for t in paras:
            d.add_paragraph(t)
        d.save(tmp_path / name)
        return str(tmp_path / name)

    a, b, c = doc("a.docx", ["Hello", "World"]), doc("b.docx", ["Hello", "  World "]), doc("c.docx", ["Hello"])
    assert metric("compare_docx_files")(a, b) == 1.0 and metric("compare_docx_files")(a, c) == 0.0

    def deck(name: str, title: str) -> str:
        p = pptx.Presentation()
        s = p.slides.add_slide(p.slide_layouts[0])
        s.shapes.title.text = title
        p.save(tmp_path / name)
        return str(tmp_path / name)

    assert metric("compare_pptx_files")(deck("a.pptx", "Q3"), deck("b.pptx", "Q3")) == 1.0
    assert metric("compare_pptx_files")(deck("a.pptx", "Q3"), deck("c.pptx", "Q4")) == 0.0
    Image.new("RGB", (8, 8), "red").save(tmp_path / "r.png")
    Image.new("RGB", (8, 8), "red").save(tmp_path / "r2.png")
    im = Image.new("RGB", (8, 8), "red")
    im.putpixel((3, 3), (0, 0, 255))
    im.save(tmp_path / "b.png")
    assert metric("compare_images")(str(tmp_path / "r.png"), str(tmp_path / "r2.png")) == 1.0
    assert metric("compare_images")(str(tmp_path / "r.png"), str(tmp_path / "b.png")) == 0.0
    assert metric("compare_images")(str(tmp_path / "r.png"), str(tmp_path / "none.png")) == 0.0
    (tmp_path / "s.json").write_text(json.dumps({"editor.fontSize": 14, "x": 1}))
    assert metric("check_json_settings")(str(tmp_path / "s.json"), {"expected": {"editor.fontSize": 14}}) == 1.0
    assert metric("check_json_settings")(str(tmp_path / "s.json"), {"expected": {"editor.fontSize": 12}}) == 0.0


def test_chrome_sqlite_metrics(tmp_path):
    hist, cookies = tmp_path / "History", tmp_path / "Cookies"
    with sqlite3.connect(hist) as con:
        con.execute("CREATE TABLE urls (id INTEGER PRIMARY KEY, url TEXT)")
        con.execute("INSERT INTO urls (url) VALUES ('https://www.youtube.com/watch?v=1')")
    with sqlite3.connect(cookies) as con:
        con.execute("CREATE TABLE cookies (host_key TEXT)")
        con.execute("INSERT INTO cookies VALUES ('.example.org')")
    assert metric("check_history_deleted")(str(hist), {"type": "keywords", "keywords": ["youtube"]}) == 0.0
    assert metric("check_history_deleted")(str(hist), {"type": "keywords", "keywords": ["vimeo"]}) == 1.0
    assert metric("is_cookie_deleted")(str(cookies), {"type": "domains", "domains": [".amazon.com"]}) == 1.0
    assert metric("is_cookie_deleted")(str(cookies), {"type": "domains", "domains": [".example.org"]}) == 0.0
    bar = {"bookmark_bar": {"children": [{"type": "folder", "name": "Favorites"},
                                         {"type": "url", "url": "https://jalammar.github.io/illustrated-transformer/"}]}}
    assert metric("is_expected_bookmarks")(bar, {"type": "bookmark_bar_folders_names", "names": ["Favorites"]}) == 1.0
    assert metric("is_expected_bookmarks")(bar, {"type": "bookmark_bar_websites_urls", "urls": ["https://x.org/"]}) == 0.0
    assert metric("check_gnome_favorite_apps")("['a.desktop', 'b.desktop']\n", {"expected": ["b.desktop", "a.desktop"]}) == 1.0
    assert metric("check_moved_jpgs")({"children": [{"name": "a.jpg"}]}, {"expected": ["a.jpg"]}) == 1.0
    assert metric("is_utc_0")("      Time zone: Etc/UTC (UTC, +0000)\n") == 1.0
    assert metric("is_utc_0")("      Time zone: Europe/Paris (CET, +0100)\n") == 0.0


def test_check_bookkeeping():
    rs = [CheckResult("a", RAN, score=0.0), CheckResult("b", DOWNLOAD, "https://x -> /c/b/x", needs_download=True),
          CheckResult("c", UNSUPPORTED, "metric m: ..."), CheckResult("d", RAN, score=1.0)]
    c = coverage(rs)
    assert (c["no_download_tasks"], c["no_download_ran"], c["coverage_pct"]) == (3, 2, 66.7)
    assert c["noop_nonzero"] == ["d"]
    assert format_table(rs).splitlines()[-1].startswith("coverage: 2/3 tasks that need no download ran (66.7%)")


@pytest.mark.skipif(not OSWORLD.is_dir(), reason=f"OSWorld's task files are not at {OSWORLD}")
def test_which_osworld_tasks_need_downloads():
    need = {p.stem for p in (OSWORLD / "os").glob("*.json") if needs_download(load_gui_task(p))}
    assert "23393935-50c7-4a86-aeea-2b78fd089c5c" in need  # download steps
    assert "13584542-872b-42d8-b299-866967b5c3ef" not in need
    assert needs_download(load_gui_task(OSWORLD / "chrome" / "e1e75309-3ddb-4d09-92ec-de869c928143.json"))  # pdf_from_url
