"""claw/GUI-v0 on OSWorld's own task files (``../shared/osworld``, unchanged) on a real desktop.

* ``claw gui check`` over the ``os`` and ``chrome`` folders: ≥ 80% of the tasks that need no download reset
  and evaluate with no infrastructure error, doing nothing scores 0, every other task is named with its reason;
* scripted agents perform six OSWorld tasks (two domains) through the GUI (a terminal opened with Ctrl+Alt+T,
  Chromium's keyboard shortcuts) and score 1;
* ``download`` steps: fetched from a real HTTP server on 127.0.0.1 into ``cache/<task_id>/<file>``, reused
  once the server is gone, and — not cached, offline — one error naming the URL and the cache path;
* the desktop's ``sudo`` takes the client password and refuses others;
* the controller refuses requests without the desktop's secret (issue 17).

Skips with the reason when the desktop's system components or ``../shared/osworld`` are missing.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.test_gui import _REASON as GUI_REASON

OSWORLD = Path(__file__).resolve().parents[1].parent / "shared" / "osworld"
pytestmark = [
    pytest.mark.skipif(GUI_REASON is not None, reason=f"GUI desktop: {GUI_REASON}"),
    pytest.mark.skipif(not OSWORLD.is_dir(), reason=f"OSWorld's task files are not at {OSWORLD} (../shared/osworld)"),
]
# Tasks whose no-op scores 1 for a reason outside this environment, checked by name so a new one fails the test:
# 7b6c7e24 asks to delete Amazon's cookies, which only exist when amazon.com was reachable during set-up;
# af630914 asks for a large default font but its own rule (min 16) accepts Chrome's default of 16 px.
NOOP_ONE = {"7b6c7e24-c58a-49fc-a5bb-d57b80e5b4c3", "af630914-714e-4a24-a7bb-f9af687d3b91"}


@pytest.mark.slow
@pytest.mark.timeout(1200)  # chrome: 46 tasks, ~2 Chromium starts each (5 min measured on a busy 2-core VM)
@pytest.mark.parametrize("domain", ["os", "chrome"])
def test_gui_check_runs_osworld_domain(domain, tmp_path, capsys):
    from claw_envs.gui.check import DOWNLOAD, INFRA, RAN, UNSUPPORTED, main
    out = tmp_path / "check.json"
    rc = main([str(OSWORLD / domain), "--offline", "--cache", str(tmp_path / "cache"), "--json", str(out),
               "--min-coverage", "80"])
    table = capsys.readouterr().out
    report = json.loads(out.read_text())
    cov = report["coverage"]
    print(table)
    assert rc == 0, table
    assert cov["tasks"] == len(list((OSWORLD / domain).glob("*.json")))
    assert cov["coverage_pct"] >= 80.0, table
    assert cov[INFRA] == 0, table
    assert set(cov["noop_nonzero"]) <= NOOP_ONE, table
    for r in report["results"]:
        assert r["outcome"] in (RAN, DOWNLOAD, UNSUPPORTED)
        if r["outcome"] != RAN:
            assert r["detail"], r  # named: the URL and cache path, or the step/getter/metric
        if r["outcome"] == DOWNLOAD:
            assert "https://" in r["detail"] and str(tmp_path / "cache" / r["task_id"]) in r["detail"]
    assert "coverage:" in table.splitlines()[-1]


def _terminal(command: str) -> list[str]:
    """Open a terminal the way an Ubuntu user does (Ctrl+Alt+T) and type a command into it."""
    return ["pyautogui.hotkey('ctrl', 'alt', 't'); time.sleep(2)",
            f"pyautogui.write({command + chr(10)!r}, interval=0.005); time.sleep(1.5)", "DONE"]


SCRIPTED = {
    # os: "Could you set the 'Dim screen when inactive' to off in setting?"
    "bedcedc4-4d72-425e-ad62-21960b11fe0d": _terminal("gsettings set org.gnome.desktop.session idle-delay 0"),
    # os: "... switch to 'Do Not Disturb' mode"
    "f9be0997-4b7c-45c5-b05c-4612b44a6118": _terminal("gsettings set org.gnome.desktop.notifications show-banners false"),
    # os: rename a folder its set-up made with `sudo -S mkdir`
    "e0df059f-28a6-4169-924f-b9623e7184cc": _terminal("mv ~/Desktop/todo_list_Jan_1 ~/Desktop/todo_list_Jan_2"),
    # os: "remove vim from favorite apps" (a GNOME Shell setting on the session bus)
    "ec4e3f68-9ea4-4c18-a5c9-69f89d1178b3": _terminal(
        "gsettings set org.gnome.shell favorite-apps \"['thunderbird.desktop', 'google-chrome.desktop']\""),
    # chrome: "navigate to the area in my browser settings where my passwords are stored"
    "12086550-11c0-466b-b367-1d9e75b3910e": [
        "pyautogui.hotkey('ctrl', 'l'); time.sleep(0.3); "
        "pyautogui.write('chrome://password-manager/passwords\\n', interval=0.005); time.sleep(2)", "DONE"],
    # chrome: "bring back the last tab I shut down"
    "06fe7178-4491-4589-810f-2e2bc9502122": ["pyautogui.hotkey('ctrl', 'shift', 't'); time.sleep(2)", "DONE"],
}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_scripted_agents_solve_osworld_tasks(tmp_path):
    from claw_envs.gui.env import GUIEnv
    from claw_envs.gui.tasks import load_gui_tasks
    tasks = [t for d in ("os", "chrome") for t in load_gui_tasks(OSWORLD / d) if t.id in SCRIPTED]
    assert len(tasks) == len(SCRIPTED)
    env = GUIEnv(tasks=tasks, download_cache=str(tmp_path), offline=True)
    try:
        scores = {}
        for task in tasks:
            _, info = env.reset(options={"task_id": task.id})
            assert info["task_id"] == task.id
            reward, done = 0.0, False
            for action in SCRIPTED[task.id]:
                _, reward, term, trunc, info = env.step(action)
                done = term or trunc
                if done:
                    break
            assert done
            scores[task.id] = (reward, info["evaluation"])
        assert all(r == 1.0 for r, _ in scores.values()), scores
        # doing nothing on the same task scores 0 (the score comes from the actions)
        env.reset(options={"task_id": "bedcedc4-4d72-425e-ad62-21960b11fe0d"})
        assert env.step("DONE")[1] == 0.0
    finally:
        env.close()


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        data = self.files.get(self.path)
        self.send_response(200 if data is not None else 404)
        self.send_header("Content-Length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")

    def log_message(self, *a):
        pass


@pytest.fixture
def file_server():
    _Files.files = {"/os/t1/setup.sh": b"#!/bin/bash\necho made > ~/Desktop/made.txt\n"}
    _Files.hits = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _download_task(tmp_path: Path, url: str) -> Path:
    """An OSWorld-shaped task (as OSWorld writes them: download, chmod, run) whose file comes from ``url``."""
    task = {"id": "t1", "snapshot": "os", "instruction": "noop", "source": "test",
            "config": [{"type": "download", "parameters": {"files": [{"url": url, "path": "setup.sh"}]}},
                       {"type": "execute", "parameters": {"command": "chmod +x setup.sh", "shell": True}},
                       {"type": "execute", "parameters": {"command": "./setup.sh", "shell": True}}],
            "evaluator": {"func": "exact_match",
                          "result": {"type": "vm_command_line", "command": "cat ~/Desktop/made.txt", "shell": True},
                          "expected": {"type": "rule", "rules": {"expected": "made\n"}}}}
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "t1.json").write_text(json.dumps(task))
    return folder


def test_downloads_are_fetched_cached_and_named_when_missing(tmp_path, file_server):
    from claw_envs.gui.env import GUIEnv
    from claw_envs.gui.osworld import DownloadNeeded
    srv, base = file_server
    url = f"{base}/os/t1/setup.sh"
    cache = tmp_path / "cache"
    env = GUIEnv(tasks=str(_download_task(tmp_path, url)), download_cache=str(cache))
    try:
        env.reset(options={"task_id": "t1"})
        assert (cache / "t1" / "setup.sh").read_bytes() == _Files.files["/os/t1/setup.sh"]
        assert env.step("DONE")[1] == 1.0  # the downloaded script ran in the desktop
        assert _Files.hits == ["/os/t1/setup.sh"]
        srv.shutdown()  # the network is gone: the cache is reused
        srv.server_close()
        env.reset(options={"task_id": "t1"})
        assert env.step("DONE")[1] == 1.0
        assert _Files.hits == ["/os/t1/setup.sh"]
        (cache / "t1" / "setup.sh").unlink()
        with pytest.raises(DownloadNeeded) as e:
            env.reset(options={"task_id": "t1"})
        assert url in str(e.value) and str(cache / "t1" / "setup.sh") in str(e.value)
        assert e.value.cache_path == str(cache / "t1" / "setup.sh")
    finally:
        env.close()


def test_sudo_takes_the_client_password_and_the_controller_needs_its_secret():
    from claw_envs.core.errors import SandboxError
    from claw_envs.gui.client import ControllerClient
    from claw_envs.gui.providers import LocalProvider
    p = LocalProvider(client_password="s3cret pw")
    url = p.start()
    try:
        anon = ControllerClient(url, timeout=30)
        for call in (anon.screenshot, lambda: anon.execute("id"), lambda: anon.put_file("/home/user/x", b"x")):
            with pytest.raises(SandboxError, match="401"):
                call()
        with pytest.raises(SandboxError, match="401"):
            ControllerClient(url, timeout=30, token=p.token + "x").screenshot()
        status, _, body = anon.request("POST", "/execute", json.dumps({"command": "id"}).encode(), "application/json")
        assert status == 401 and b"secret" in body
        c = ControllerClient(url, timeout=30, token=p.token)
        assert c.screenshot().startswith(b"\x89PNG")
        # the X server wants its cookie too: a client without it is refused, on the host and in the sandbox
        if shutil.which("xdpyinfo"):
            r = subprocess.run(["xdpyinfo", "-display", p.info["display"]], capture_output=True, text=True,
                               env={"PATH": os.environ["PATH"], "XAUTHORITY": "/nonexistent"}, timeout=30)
            assert r.returncode != 0 and "Authorization required" in r.stderr
            inside = c.execute("env -u XAUTHORITY xdpyinfo -display :0", shell=True)
            assert inside["returncode"] != 0 and "Authorization required" in inside["error"]
            assert c.execute("xdpyinfo -display :0 >/dev/null", shell=True)["returncode"] == 0
        xvfb = [q for q in Path("/proc").iterdir() if q.name.isdigit() and _cmd(q).startswith("Xvfb")
                and _ppid(q) == p.proc.pid]
        assert len(xvfb) == 1 and "-auth" in _cmd(xvfb[0])
        assert xvfb[0].stat().st_uid != 0  # the X server never runs as root
        ok = c.execute("echo 's3cret pw' | sudo -S sh -c 'echo ran as $(id -u)'", shell=True)
        assert ok["returncode"] == 0 and "ran as" in ok["output"], ok
        bad = c.execute("echo wrong | sudo -S true", shell=True)
        assert bad["returncode"] == 1 and "incorrect password" in bad["error"]
        apt = c.execute("echo 's3cret pw' | sudo -S apt-get install -y jq && "
                        "echo 's3cret pw' | sudo -S apt-get install -y no-such-pkg-xyz", shell=True)
        assert apt["returncode"] == 100 and "no-such-pkg-xyz" in apt["error"]
        # root of a user namespace at most: what "root" creates belongs to the sandbox's own user (uid 1000)
        assert ok["output"].strip() in ("ran as 0", "ran as 1000"), ok
        owner = c.execute("echo 's3cret pw' | sudo -S touch /home/user/by-sudo && stat -c %u /home/user/by-sudo",
                          shell=True)
        assert owner["returncode"] == 0 and owner["output"].strip() == "1000", owner
        home = c.execute("mkdir /home/test1 && echo ok > ~/Desktop/f && gsettings get org.gnome.desktop.session "
                         "idle-delay", shell=True)
        assert home["returncode"] == 0 and home["output"].strip() == "uint32 300", home
    finally:
        p.stop()


def _cmd(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _ppid(proc: Path) -> int:
    try:
        return int(next(ln.split()[1] for ln in (proc / "status").read_text().splitlines() if ln.startswith("PPid:")))
    except (OSError, StopIteration, ValueError):
        return -1


@pytest.mark.slow
def test_playwright_drives_the_desktop_chrome_through_the_controller():
    """OSWorld's CDP way: the task launches ``google-chrome --remote-debugging-port=1337`` and forwards 9222 with
    socat; Playwright's ``connect_over_cdp`` reaches it through the controller, with the desktop's secret only."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install 'claw-gym[gui]')")
    if shutil.which("socat") is None:
        pytest.skip("`socat` not found (apt-get install socat; scripts/setup.sh installs it)")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from claw_envs.gui.env import GUIEnv
    tid = "030eeff7-b492-4218-b312-701ec99ee0cc"  # "enable 'Do Not Track'": launch + socat, profile getter
    env = GUIEnv(tasks=str(OSWORLD / "chrome"), task_ids=[tid], offline=True)
    try:
        env.reset(options={"task_id": tid})
        url, token = env.client.url, env.provider.token
        with sync_playwright() as pw:
            with pytest.raises(PlaywrightError, match="401"):
                pw.chromium.connect_over_cdp(url, timeout=20000)
            browser = pw.chromium.connect_over_cdp(url, headers={"Authorization": f"Bearer {token}"}, timeout=30000)
            page = browser.contexts[0].new_page()
            page.goto("http://127.0.0.1:8000/")
            assert page.title() == "Claw Mart"
            browser.close()
        assert "http://127.0.0.1:8000/" in [t["url"] for t in env.client.tabs()]  # the same browser, seen by claw
        *_, info = env.step("DONE")
        assert info["evaluation"]["score"] == 0.0
        assert info["evaluation"]["details"][0]["result"] == "false"  # Preferences read after pkill + relaunch
    finally:
        env.close()
