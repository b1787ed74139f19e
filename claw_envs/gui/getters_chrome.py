"""OSWorld's Chrome getters: the browser profile's files and the active tab's URL, taken apart.

Profile getters read the files Chrome keeps in OSWorld's profile folder (``~/.config/google-chrome``, where
the desktop's ``google-chrome`` keeps its profile) through the controller, exactly the files OSWorld reads:
``Default/Preferences`` (JSON), ``Local State`` (JSON), ``Default/Bookmarks`` (JSON), and the SQLite
databases ``Default/History`` and ``Default/Cookies`` (copied to the cache; metrics open them with
``sqlite3``). A missing file gives None (or OSWorld's default), which metrics score 0.

URL getters (``active_tab_url_parse``, ``url_dashPart``, ``url_path_parse``) take the active tab's URL
(``goto_prefix`` is prepended when it has no scheme, as OSWorld does) and return OSWorld's shapes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from claw_envs.core.errors import SandboxError

PROFILE = "/home/user/.config/google-chrome"


def _read(env, rel: str) -> bytes | None:
    try:
        return env.controller.get_file(f"{PROFILE}/{rel}")
    except SandboxError:
        return None


def _json(env, rel: str) -> dict | None:
    data = _read(env, rel)
    if data is None:
        return None
    try:
        obj = json.loads(data)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _prefs(env) -> dict:
    return _json(env, "Default/Preferences") or {}


def _flag(value: Any) -> str:
    return "true" if value else "false"


def get_enable_do_not_track(env, config: dict) -> str:
    return _flag(_prefs(env).get("enable_do_not_track", False))


def get_enable_safe_browsing(env, config: dict) -> str:
    return _flag((_prefs(env).get("safebrowsing") or {}).get("enabled", True))


def get_new_startup_page(env, config: dict) -> str:
    """"true" when Chrome opens the New Tab page on start-up (no ``session`` settings, or restore mode 5)."""
    session = _prefs(env).get("session")
    if not session:
        return "true"
    return _flag(session.get("restore_on_startup") == 5)


def get_data_delete_automacally(env, config: dict) -> str:  # OSWorld's spelling
    """"true" when cookies and site data are deleted on exit (cookie content setting 4, "session only")."""
    values = ((_prefs(env).get("profile") or {}).get("default_content_setting_values") or {})
    return _flag(values.get("cookies") == 4)


def get_profile_name(env, config: dict) -> str | None:
    return (_prefs(env).get("profile") or {}).get("name")


def get_default_search_engine(env, config: dict) -> str:
    data = _prefs(env).get("default_search_provider_data") or {}
    return (data.get("template_url_data") or {}).get("short_name") or "Google"


def get_chrome_font_size(env, config: dict) -> dict:
    prefs = (_prefs(env).get("webkit") or {}).get("webprefs") or {}
    return {"default_fixed_font_size": prefs.get("default_fixed_font_size", 13),
            "default_font_size": prefs.get("default_font_size", 16),
            "minimum_font_size": prefs.get("minimum_font_size", 0)}


def get_enabled_experiments(env, config: dict) -> list[str]:
    return list(((_json(env, "Local State") or {}).get("browser") or {}).get("enabled_labs_experiments") or [])


def get_bookmarks(env, config: dict) -> dict | None:
    """The ``roots`` object of ``Default/Bookmarks`` (``bookmark_bar``, ``other``, ``synced``)."""
    data = _json(env, "Default/Bookmarks")
    return None if data is None else data.get("roots") or {}


def get_find_unpacked_extension_path(env, config: dict) -> list[str]:
    settings = ((_prefs(env).get("extensions") or {}).get("settings") or {})
    return [s["path"] for s in settings.values() if isinstance(s, dict) and s.get("location") == 4 and s.get("path")]


def _copy_db(env, config: dict, rel: str) -> str | None:
    data = _read(env, rel)
    if data is None:
        return None
    os.makedirs(env.cache_dir, exist_ok=True)
    dest = os.path.join(env.cache_dir, os.path.basename(config.get("dest") or rel))
    Path(dest).write_bytes(data)
    return dest


def get_history(env, config: dict) -> str | None:
    """A local copy of ``Default/History`` (SQLite), or None when Chrome has not written one."""
    return _copy_db(env, config, "Default/History")


def get_cookie_data(env, config: dict) -> str | None:
    """A local copy of ``Default/Cookies`` (SQLite), or None."""
    return _copy_db(env, config, "Default/Cookies")


def get_shortcuts_on_desktop(env, config: dict) -> dict[str, str]:
    """``{file name: text}`` of the ``.desktop`` files on the user's Desktop."""
    out = {}
    r = env.controller.execute("for f in ~/Desktop/*.desktop; do [ -f \"$f\" ] && printf '%s\\0' \"$f\"; done",
                               shell=True, timeout=20)
    for path in (r.get("output") or "").split("\0"):
        if path:
            try:
                out[os.path.basename(path)] = env.controller.get_file(path).decode("utf-8", "replace")
            except SandboxError:
                continue
    return out


# -- the active tab's URL ------------------------------------------------------------------------------
def _active_url(env, config: dict) -> str | None:
    from claw_envs.gui.getters import get_active_url_from_accessTree
    return get_active_url_from_accessTree(env, config)


def get_active_tab_url_parse(env, config: dict) -> dict | None:
    """The active URL's query parameters named in ``parse_keys`` (first value; ``split_list`` splits on
    commas), renamed by ``replace`` ({old: new})."""
    url = _active_url(env, config)
    if url is None:
        return None
    query = parse_qs(urlsplit(url).query)
    out: dict[str, Any] = {}
    for key in config.get("parse_keys") or []:
        values = query.get(key)
        value = values[0] if values else None
        if value is not None and config.get("split_list"):
            value = value.split(",")
        out[key] = value
    for old, new in (config.get("replace") or {}).items():
        if old in out:
            out[new] = out.pop(old)
    return out


def get_url_dashPart(env, config: dict) -> Any:  # noqa: N802 - OSWorld's name
    """One ``/``-separated part of the active URL (``partIndex``); ``needDeleteId`` drops a trailing
    ``-<id>``; ``returnType`` ``json`` gives ``{key: part}``."""
    url = _active_url(env, config)
    if url is None:
        return None
    parts = url.split("/")
    try:
        part = unquote(parts[int(config.get("partIndex", -1))])
    except IndexError:
        return None
    if config.get("needDeleteId"):
        part = part.rsplit("-", 1)[0]
    return {config.get("key", "part"): part} if config.get("returnType") == "json" else part


def get_url_path_parse(env, config: dict) -> dict | None:
    """Filter facets in a path-style URL (``/a/b/k1,k2/v1,v2``): each ``parse_keys`` entry maps to its value
    when it appears in a key segment followed by a value segment, else to True when it is a path segment
    (``-`` and ``_`` and case ignored), else to False."""
    url = _active_url(env, config)
    if url is None:
        return None
    segs = [unquote(s) for s in urlsplit(url).path.split("/") if s]

    def norm(s: str) -> str:
        return s.lower().replace("-", "_")

    pairs: dict[str, str] = {}
    for a, b in zip(segs, segs[1:], strict=False):
        keys, values = a.split(","), b.split(",")
        if len(keys) > 1 and len(keys) == len(values):
            pairs.update({norm(k): v for k, v in zip(keys, values, strict=True)})
    flat = {norm(s) for seg in segs for s in seg.split(",")}
    return {k: pairs.get(norm(k), norm(k) in flat) for k in config.get("parse_keys") or []}
