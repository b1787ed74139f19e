"""OSWorld metrics of the ``os`` and ``chrome`` domains (names and call shapes as OSWorld's).

Each is ``metric(result, rule_or_expected, **options) -> float`` in [0, 1]; a None result scores 0.
Chrome's SQLite files (History, Cookies) are read with ``sqlite3``; everything else is JSON/text.
"""

from __future__ import annotations

import ast
import sqlite3
from typing import Any
from urllib.parse import urlsplit

from claw_envs.core.errors import TaskError


def _names(listing: Any) -> list[str] | None:
    """Entry names of a directory listing: OSWorld's tree (``children``) or claw's (``entries``)."""
    if not isinstance(listing, dict):
        return None
    items = listing.get("children", listing.get("entries"))
    return None if items is None else [str(i.get("name")) for i in items if isinstance(i, dict)]


def check_moved_jpgs(directory_list: Any, rule: dict) -> float:
    """The folder holds exactly the expected files."""
    names = _names(directory_list)
    return float(names is not None and sorted(names) == sorted(rule.get("expected") or []))


def is_utc_0(timedatectl_output: Any) -> float:
    """``timedatectl status`` reports a zone at UTC+0."""
    if not timedatectl_output:
        return 0.0
    for line in str(timedatectl_output).splitlines():
        if "Time zone" in line:
            return float("+0000" in line)
    return 0.0


def check_gnome_favorite_apps(apps_str: Any, rule: dict) -> float:
    """``gsettings get org.gnome.shell favorite-apps`` lists exactly the expected apps (any order)."""
    if not apps_str:
        return 0.0
    text = str(apps_str).strip()
    text = text.removeprefix("@as ").strip()
    try:
        apps = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return 0.0
    return float(isinstance(apps, list) and sorted(apps) == sorted(rule.get("expected") or []))


def is_expected_active_tab_approximate(active_tab_info: Any, rule: dict, **options: Any) -> float:
    """Same URL as the rule's, ignoring the query and fragment."""
    if active_tab_info is None:
        return 0.0
    url = active_tab_info.get("url") if isinstance(active_tab_info, dict) else str(active_tab_info)
    if rule.get("type", "url") != "url":
        raise TaskError(f"is_expected_active_tab_approximate: unsupported rule type {rule.get('type')!r}")
    a, b = urlsplit(str(url)), urlsplit(str(rule["url"]))
    return float((a.scheme, a.netloc, a.path.rstrip("/")) == (b.scheme, b.netloc, b.path.rstrip("/")))


def is_added_to_steam_cart(active_tab_info: Any, rule: dict) -> float:
    """Every item name appears in the page's text."""
    if not isinstance(active_tab_info, dict):
        return 0.0
    content = str(active_tab_info.get("content") or "")
    return float(all(item in content for item in rule.get("items") or []))


def is_expected_bookmarks(bookmarks: Any, rule: dict) -> float:
    """``bookmark_bar_folders_names``: the bar's folders are exactly ``names``;
    ``bookmark_bar_websites_urls``: the bar's links are exactly ``urls``."""
    if not isinstance(bookmarks, dict):
        return 0.0
    children = (bookmarks.get("bookmark_bar") or {}).get("children") or []
    kind = rule.get("type")
    if kind == "bookmark_bar_folders_names":
        got = [c.get("name") for c in children if c.get("type") == "folder"]
        return float(sorted(got) == sorted(rule.get("names") or []))
    if kind == "bookmark_bar_websites_urls":
        got = [c.get("url") for c in children if c.get("type") == "url"]
        return float(sorted(got) == sorted(rule.get("urls") or []))
    raise TaskError(f"is_expected_bookmarks: rule type {kind!r} is not supported here")


def _query(db: Any, sql: str) -> list[tuple] | None:
    if not db:
        return None
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return None


def check_history_deleted(history_file: Any, rule: dict) -> float:
    """No visited URL contains a keyword (a profile without history counts as deleted)."""
    if rule.get("type") != "keywords":
        raise TaskError(f"check_history_deleted: rule type {rule.get('type')!r} is not supported here")
    rows = _query(history_file, "SELECT url FROM urls")
    if rows is None:
        return 0.0
    return float(not any(k in str(url) for (url,) in rows for k in rule.get("keywords") or []))


def is_cookie_deleted(cookie_file: Any, rule: dict) -> float:
    """No cookie is left for the rule's domains."""
    if rule.get("type") != "domains":
        raise TaskError(f"is_cookie_deleted: rule type {rule.get('type')!r} is not supported here")
    rows = _query(cookie_file, "SELECT host_key FROM cookies")
    if rows is None:
        return 0.0
    hosts = {str(h) for (h,) in rows}
    return float(not any(d in hosts for d in rule.get("domains") or []))


def check_enabled_experiments(enabled_experiments: Any, rule: dict) -> float:
    """The enabled chrome://flags experiments are exactly ``names`` (``@N`` choice suffixes ignored)."""
    if not isinstance(enabled_experiments, list) or rule.get("type") != "names":
        return 0.0
    got = sorted(str(e).split("@", 1)[0] for e in enabled_experiments)
    return float(got == sorted(rule.get("names") or []))


def check_font_size(font_size: Any, rule: dict) -> float:
    """The default font size lies in ``[min, max]`` (``type: range``) or equals ``value``."""
    if not isinstance(font_size, dict):
        return 0.0
    size = font_size.get("default_font_size")
    if rule.get("type") == "range":
        return float(rule.get("min", 0) <= size <= rule.get("max", 1 << 30))
    return float(size == rule.get("value"))


def is_shortcut_on_desktop(shortcuts: Any, rule: dict) -> float:
    """A ``.desktop`` file on the Desktop has ``Exec=<exec>`` (``type: exec``) or ``Name=<name>``."""
    if not isinstance(shortcuts, dict):
        return 0.0
    kind = rule.get("type")
    key = {"exec": "Exec=", "name": "Name="}.get(str(kind))
    if key is None:
        raise TaskError(f"is_shortcut_on_desktop: rule type {kind!r} is not supported here")
    want = key + str(rule.get(kind))
    return float(any(line.strip() == want for text in shortcuts.values() for line in str(text).splitlines()))
