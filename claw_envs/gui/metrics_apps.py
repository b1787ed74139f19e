"""OSWorld metrics of the app domains: VLC's and GIMP's configuration, LibreOffice's settings, plain files,
VS Code's JSON files (names and call shapes as OSWorld's; own code).

Each is ``metric(result, rule_or_expected, **options) -> float`` in [0, 1]; a None result scores 0.

VLC's ``vlcrc`` holds ``key=value`` lines; a setting still at its default is a commented ``#key=value`` line
(or absent), so an unset key counts as VLC's default (``VLC_DEFAULTS``). ``UNSUPPORTED_METRICS`` names
metrics that need something this desktop cannot give (the evaluator reports them as unsupported).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

VLC_DEFAULTS = {"qt-bgcone": "1", "qt-max-volume": "125", "qt-minimal-view": "0",
                "one-instance-when-started-from-file": "1", "input-record-path": "", "qt-slider-colours": "",
                "global-key-play-pause": ""}
UNSUPPORTED_METRICS = {
    "check_left_panel": "it reads LibreOffice's widgets from the AT-SPI accessibility tree; this desktop's tree "
                        "has only top-level windows and Chromium pages (no AT-SPI bridges in the sandbox)",
}
HOME = "/home/user"


def _text(path: Any) -> str | None:
    if not isinstance(path, str) or not os.path.isfile(path):
        return None
    return Path(path).read_text(errors="replace")


# -- VLC ---------------------------------------------------------------------------------------------
def read_vlcrc(path: Any) -> dict[str, str] | None:
    """The set (uncommented) ``key=value`` lines of a ``vlcrc`` file; None when there is no file."""
    text = _text(path)
    if text is None:
        return None
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")) or "=" not in line:
            continue
        k, v = line.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _vlc_setting(path: Any, key: str) -> str | None:
    cfg = read_vlcrc(path)
    return None if cfg is None else cfg.get(key, VLC_DEFAULTS.get(key, ""))


def _vlc_equals(path: Any, key: str, expected: Any) -> float:
    v = _vlc_setting(path, key)
    if v is None:
        return 0.0
    try:
        return float(int(v) == int(expected))
    except (TypeError, ValueError):
        return float(v == str(expected))


def check_qt_bgcone(actual: Any, rule: dict) -> float:
    """The cone shown behind the video is on/off as ``expected_qt_bgcone`` (1/0) says."""
    return _vlc_equals(actual, "qt-bgcone", rule["expected_qt_bgcone"])


def check_qt_max_volume(actual: Any, rule: dict) -> float:
    """The maximum volume (``qt-max-volume``) is ``expected_qt_max_volume``."""
    return _vlc_equals(actual, "qt-max-volume", rule["expected_qt_max_volume"])


def check_qt_minimal_view(actual: Any, rule: dict) -> float:
    """The minimal view (no menus/controls) is on/off as ``expected_qt_minimal_view`` says."""
    return _vlc_equals(actual, "qt-minimal-view", rule["expected_qt_minimal_view"])


def check_one_instance_when_started_from_file(actual: Any, rule: dict) -> float:
    return _vlc_equals(actual, "one-instance-when-started-from-file",
                       rule["expected_one_instance_when_started_from_file"])


def check_global_key_play_pause(actual: Any, rule: dict) -> float:
    """A global play/pause hot key is set (``expected_global_key_play_pause`` 1) or not (0)."""
    v = _vlc_setting(actual, "global-key-play-pause")
    if v is None:
        return 0.0
    return float(int(bool(v)) == int(rule["expected_global_key_play_pause"]))


def _norm_path(p: str) -> str:
    p = p.strip().strip('"')
    if p.startswith("~"):
        p = HOME + p[1:]
    return p.rstrip("/") or "/"


def is_vlc_recordings_folder(actual: Any, rule: dict) -> float:
    """Recordings go to ``recording_file_path`` (``input-record-path``; ``~`` is the user's home)."""
    v = _vlc_setting(actual, "input-record-path")
    return float(bool(v) and _norm_path(v) == _norm_path(str(rule["recording_file_path"])))


def check_qt_slider_colours(actual: Any, rule: dict) -> float:
    """``blackish``: VLC's custom slider colours are set and every one is dark (each channel ≤ 80)."""
    v = _vlc_setting(actual, "qt-slider-colours")
    if not v:
        return 0.0
    try:
        nums = [int(x) for x in v.split(";") if x.strip()]
    except ValueError:
        return 0.0
    if len(nums) < 3 or len(nums) % 3:
        return 0.0
    kind = rule.get("type", "blackish")
    if kind != "blackish":
        from claw_envs.core.errors import TaskError
        raise TaskError(f"check_qt_slider_colours: unknown rule type {kind!r} (known: blackish)")
    return float(all(c <= 80 for c in nums))


def _status(path: Any) -> ET.Element | None:
    text = _text(path)
    if not text:
        return None
    try:
        return ET.fromstring(text)
    except ET.ParseError:
        return None


def is_vlc_playing(actual: Any, rule: dict) -> float:
    """VLC's ``status.xml`` says it is playing the rule's ``file`` (``file_name``: its file name) or ``url``."""
    root = _status(actual)
    if root is None or (root.findtext("state") or "").strip() != "playing":
        return 0.0
    infos = {(i.get("name") or ""): (i.text or "").strip() for i in root.iter("info")}
    kind = rule.get("type")
    if kind == "file":
        return float(infos.get("filename") == os.path.basename(str(rule["file_name"])))
    if kind == "url":
        url = str(rule["url"])
        name = os.path.basename(url.split("?", 1)[0].rstrip("/"))
        return float(url in infos.values() or infos.get("filename") in (url, name))
    from claw_envs.core.errors import TaskError
    raise TaskError(f"is_vlc_playing: unknown rule type {kind!r} (known: file, url)")


def is_vlc_fullscreen(window_size: Any, screen_size: Any) -> float:
    """VLC's window covers the whole screen."""
    if not isinstance(window_size, dict) or not isinstance(screen_size, dict):
        return 0.0
    return float(window_size.get("width") == screen_size.get("width")
                 and window_size.get("height") == screen_size.get("height"))


# -- GIMP --------------------------------------------------------------------------------------------
def check_config_status(actual: Any, rules: Any) -> float:
    """Every ``{key, value}`` rule (one or a list) appears in GIMP's config file as a ``(key value)`` line."""
    text = _text(actual)
    if text is None:
        return 0.0
    found = {}
    for line in text.splitlines():
        m = re.match(r"^\s*\(([\w-]+)\s+(.*?)\)\s*$", line)
        if m:
            found[m.group(1)] = m.group(2).strip().strip('"')
    for r in rules if isinstance(rules, list) else [rules]:
        if found.get(str(r["key"])) != str(r["value"]).strip('"'):
            return 0.0
    return 1.0


# -- LibreOffice -------------------------------------------------------------------------------------
def _xcu_props(path: Any) -> dict[tuple[str, str], str] | None:
    text = _text(path)
    if text is None:
        return None
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    oor = "{http://openoffice.org/2001/registry}"
    out = {}
    for item in root.iter("item"):
        base = item.get(f"{oor}path", "")
        for prop in item.iter("prop"):
            out[(base, prop.get(f"{oor}name", ""))] = (prop.findtext("value") or "").strip()
    return out


def check_auto_saving_time(actual: Any, rule: dict) -> float:
    """LibreOffice saves AutoRecovery information every ``minutes`` minutes (``registrymodifications.xcu``)."""
    props = _xcu_props(actual)
    if props is None:
        return 0.0
    v = props.get(("/org.openoffice.Office.Recovery/AutoSave", "TimeIntervall"),
                  props.get(("/org.openoffice.Office.Common/Save/Document", "AutoSaveTimeIntervall")))
    enabled = props.get(("/org.openoffice.Office.Recovery/AutoSave", "Enabled"), "true")
    try:
        return float(v is not None and int(v) == int(rule["minutes"]) and enabled != "false")
    except ValueError:
        return 0.0


# -- plain files -------------------------------------------------------------------------------------
def file_contains(actual: Any, rule: dict) -> float:
    """Every ``expected`` string occurs in the file."""
    text = _text(actual)
    return float(text is not None and all(str(s) in text for s in rule.get("expected") or []))


_CLOCK = re.compile(r"\b([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)\b")


def check_line_number(actual: Any, rule: dict) -> float:
    """The file has ``expected`` lines stamped with a clock time (hh:mm:ss), as a ``sar`` report does."""
    text = _text(actual)
    if text is None:
        return 0.0
    return float(sum(bool(_CLOCK.search(ln)) for ln in text.splitlines()) == int(rule["expected"]))


def check_image_file_size(actual: Any, rule: dict) -> float:
    """The file exists and is at most ``max_size`` bytes."""
    return float(isinstance(actual, str) and os.path.isfile(actual) and os.path.getsize(actual) <= int(rule["max_size"]))


# -- VS Code's JSON files ----------------------------------------------------------------------------
def _jsonc(path: Any) -> Any:
    """JSON with comments and trailing commas (VS Code's settings/keybindings files)."""
    text = _text(path)
    if text is None:
        return None
    text = re.sub(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', lambda m: m.group(1) or "", text, flags=re.S)
    text = re.sub(r",\s*([}\]])", r"\1", text)
    try:
        return json.loads(text)
    except ValueError:
        return None


def check_json_keybindings(actual: Any, expected: dict, **options: Any) -> float:
    """The keybindings file (a JSON list) holds the ``expected`` binding."""
    data = _jsonc(actual)
    want = expected.get("expected") if isinstance(expected, dict) and "expected" in expected else expected
    return float(isinstance(data, list) and want in data)


def compare_config(actual: Any, rules: dict, **options: Any) -> float:
    """The file's text equals ``rules["expected"]`` (surrounding whitespace ignored)."""
    text = _text(actual)
    return float(text is not None and text.strip() == str(rules.get("expected", "")).strip())


def is_extension_installed(actual: Any, rules: dict, **options: Any) -> float:
    """``contain``: the listing (``code --list-extensions``) names ``expected``; ``not_contain``: it does not."""
    if actual is None:
        return 0.0
    names = str(actual).split()
    hit = str(rules["expected"]) in names
    return float(hit if rules.get("type", "contain") == "contain" else not hit)
