"""The desktop's apps beyond the browser: which app opens a file, the profile OSWorld's VM user already has,
and the apps this desktop cannot offer.

* ``opener(path)`` → ``(argv, window_hint)``: office documents open in LibreOffice, audio/video in VLC, GIMP's
  own ``.xcf`` in GIMP, mail (``.eml``) in Thunderbird, anything else in the text editor. ``window_hint`` is
  text the app's window title shows once the file is open (the file name, or the app's name where the title
  shows the media's own title instead).
* ``profile_files()``: files written into every fresh home, as on OSWorld's VM where each app has been started
  once: LibreOffice without its first-start dialogs (Tip of the Day, Impress's template chooser, the "first
  time" bar). VLC's
  privacy dialog and its HTTP interface come from the ``vlc`` wrapper (``session_bin``), so ``vlcrc``
  stays VLC's own.
* ``UNSUPPORTED_APPS``: commands of OSWorld's task files that have no app here, each with the reason; a set-up
  step that starts one raises ``Unsupported`` (``kind="app"``) with that reason. ``code`` (VS Code) is
  code-server in a Chromium app window (``session_bin``): unsupported (``VSCODE_REASON``) only on a machine
  where code-server is not installed.
"""

from __future__ import annotations

import os

from claw_envs.gui.osworld import Unsupported
from claw_envs.gui.session_bin import CODE_SERVER_DIR, VSCODE_TITLE, code_server_installed

OFFICE = {".xlsx", ".xls", ".ods", ".csv", ".docx", ".doc", ".odt", ".rtf", ".pptx", ".ppt", ".odp", ".odg"}
MEDIA = {".mp4", ".mkv", ".avi", ".webm", ".mov", ".mpg", ".mpeg", ".flv", ".wmv", ".m4v", ".mp3", ".wav", ".ogg",
         ".flac", ".m4a", ".aac", ".opus", ".m3u", ".m3u8", ".pls", ".xspf"}

# The apps' window title markers (a window showing one of these belongs to that app).
WINDOW_MARKERS = {"libreoffice": "LibreOffice", "vlc": "VLC media player", "gimp": "GNU Image Manipulation Program",
                  "thunderbird": "Mozilla Thunderbird"}

# Commands that start an app -> (start of its main windows' WM_CLASS in lower case, text of their title): a
# launch waits for such a window, so the first screenshot shows the app rather than its splash screen.
_LO = ("libreoffice-", "")
APP_WINDOWS = {"libreoffice": _LO, "soffice": _LO, "localc": _LO, "lowriter": _LO, "loimpress": _LO,
               "vlc": ("vlc", ""), "gimp": ("gimp", "GNU Image Manipulation Program"),
               "thunderbird": ("thunderbird", "Thunderbird"), "code": ("code", VSCODE_TITLE)}

VSCODE_REASON = ("VS Code is not installed on this desktop: Debian has no package for it, and the desktop's `code` "
                 f"runs code-server (the npm registry's VS Code), which is not installed at {CODE_SERVER_DIR} on this "
                 "machine (scripts/setup.sh installs it: libkrb5-dev, Node 24 and code-server from the npm registry)")
INSIDERS_REASON = "VS Code Insiders is not installed on this desktop (its `code` is code-server, the stable VS Code)"
NAUTILUS_REASON = "GNOME Files (nautilus) is not installed on this desktop (no GNOME session here)"
UNSUPPORTED_APPS = {"code-insiders": INSIDERS_REASON, "nautilus": NAUTILUS_REASON}

_LO_USER = "/home/user/.config/libreoffice/4/user"
_XCU_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
             'xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n')


def _xcu_item(path: str, prop: str, value: str) -> str:
    return (f'<item oor:path="{path}"><prop oor:name="{prop}" oor:op="fuse"><value>{value}</value></prop>'
            "</item>\n")


def libreoffice_version() -> str | None:
    """The installed LibreOffice's ``major.minor`` (from its Debian package), or None."""
    import re
    import subprocess
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libreoffice-core"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.match(r"^(?:\d+:)?(\d+\.\d+)", out.strip())
    return m.group(1) if m else None


LIBREOFFICE_REGISTRY = (_XCU_HEAD
                        + _xcu_item("/org.openoffice.Office.Common/Misc", "ShowTipOfTheDay", "false")
                        + _xcu_item("/org.openoffice.Office.Common/Misc", "FirstRun", "false")
                        + _xcu_item("/org.openoffice.Office.Impress/Misc/NewDoc", "AutoPilot", "false")
                        + _xcu_item("/org.openoffice.Setup/Office", "ooSetupInstCompleted", "true")
                        + "</oor:items>\n")
PROFILE_FILES = {f"{_LO_USER}/registrymodifications.xcu": LIBREOFFICE_REGISTRY}
_profile: dict[str, str] | None = None


def profile_files() -> dict[str, str]:
    """``PROFILE_FILES`` plus the installed LibreOffice's version as the last one run (no "running version
    X for the first time" bar)."""
    global _profile
    if _profile is None:
        ver = libreoffice_version()
        reg = LIBREOFFICE_REGISTRY
        if ver:
            reg = reg.replace("</oor:items>", _xcu_item("/org.openoffice.Setup/Product", "ooSetupLastVersion", ver)
                              + "</oor:items>")
        _profile = {**PROFILE_FILES, f"{_LO_USER}/registrymodifications.xcu": reg}
    return _profile


def opener(path: str) -> tuple[list[str], str]:
    """The command that opens ``path`` (a file of the desktop) and the title text its window will show."""
    ext = os.path.splitext(path)[1].lower()
    name = os.path.basename(path)
    if ext in OFFICE:
        return ["libreoffice", path], name
    if ext in MEDIA:
        return ["vlc", path], WINDOW_MARKERS["vlc"]
    if ext == ".xcf":
        return ["gimp", path], name.rsplit(".", 1)[0]
    if ext == ".eml":
        return ["thunderbird", path], name
    return ["mousepad", path], name


def check_app_available(command: str) -> None:
    """Raise ``Unsupported`` (kind ``app``) when ``command`` names an app this desktop does not have."""
    reason = UNSUPPORTED_APPS.get(command)
    if command == "code" and not code_server_installed():
        reason = VSCODE_REASON
    if reason:
        raise Unsupported(f"the task starts {command!r}: {reason}", "app", command)
