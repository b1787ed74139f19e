"""Getters of OSWorld's app domains (VLC, GIMP, LibreOffice, the desktop's default apps), OSWorld's names.

* ``vlc_config``: a local copy of VLC's ``~/.config/vlc/vlcrc`` (None before VLC ever saved one).
* ``vlc_playing_info``: a local copy of VLC's ``/requests/status.xml``, read from its HTTP interface
  (127.0.0.1:8080 inside the desktop, password ``password``; the ``vlc`` wrapper turns it on), None when
  VLC is not running or has no HTTP interface.
* ``gimp_config_file``: a local copy of ``~/.config/GIMP/2.10/<file_name>`` (e.g. ``gimprc``), None if missing.
* ``default_video_player``: the ``.desktop`` file ``xdg-mime`` names for ``video/mp4`` ("" when none).
* ``vscode_config``: as OSWorld's: runs the task's eval-extension command in VS Code (Ctrl+Shift+P, its name,
  Enter; the extension writes a file) and returns a local copy of that file. ``Unsupported`` on a machine
  without code-server (``apps.VSCODE_REASON``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from claw_envs.gui.apps import VSCODE_REASON
from claw_envs.gui.getters import GetterEnv, _dest, get_vm_file
from claw_envs.gui.osworld import Unsupported
from claw_envs.gui.session_bin import VLC_HTTP_PASSWORD, VLC_HTTP_PORT, code_server_installed

VLCRC = "/home/user/.config/vlc/vlcrc"
GIMP_DIR = "/home/user/.config/GIMP/2.10"

_STATUS = ("import base64, sys, urllib.request\n"
           "req = urllib.request.Request(sys.argv[1], headers={'Authorization': 'Basic ' + "
           "base64.b64encode((':' + sys.argv[2]).encode()).decode()})\n"
           "sys.stdout.write(urllib.request.urlopen(req, timeout=5).read().decode('utf-8', 'replace'))\n")


def get_vlc_config(env: GetterEnv, config: dict) -> str | None:
    return get_vm_file(env, {"path": VLCRC, "dest": config.get("dest") or "vlcrc"})


def get_vlc_playing_info(env: GetterEnv, config: dict) -> str | None:
    url = f"http://127.0.0.1:{VLC_HTTP_PORT}/requests/status.xml"
    r = env.controller.execute(["python3", "-c", _STATUS, url, VLC_HTTP_PASSWORD], False, 15)
    if r.get("returncode") not in (0, None) or not (r.get("output") or "").strip():
        return None
    dest = _dest(env, config, config.get("dest") or "status.xml")
    Path(dest).write_text(r["output"])
    return dest


def get_gimp_config_file(env: GetterEnv, config: dict) -> str | None:
    name = config["file_name"]
    return get_vm_file(env, {"path": f"{GIMP_DIR}/{name}", "dest": config.get("dest") or name})


def get_default_video_player(env: GetterEnv, config: dict) -> str:
    r = env.controller.execute(["xdg-mime", "query", "default", "video/mp4"], False, 15)
    return (r.get("output") or "").strip()


def get_vscode_config(env: GetterEnv, config: dict) -> str | None:
    if not code_server_installed():
        raise Unsupported(f"getter vscode_config: {VSCODE_REASON}", "getter", "vscode_config")
    # as OSWorld: the keys go to the active window (the tasks' postconfig activates VS Code first)
    command = config["vscode_extension_command"]
    env.controller.run_python("pyautogui.hotkey('ctrl', 'shift', 'p'); time.sleep(1.0)\n"
                              f"pyautogui.typewrite({command!r}); time.sleep(1.0)\n"
                              "pyautogui.press('enter'); time.sleep(1.0)")
    time.sleep(0.5)
    return get_vm_file(env, {"path": config["path"], "dest": config["dest"]})


def get_vm_file_json(env: GetterEnv, config: dict) -> object:
    """claw: a JSON file of the desktop, parsed (None when missing or not JSON)."""
    p = get_vm_file(env, config)
    try:
        return json.loads(Path(p).read_text()) if isinstance(p, str) else None
    except ValueError:
        return None
