"""claw/GUI-v0 on a real Xvfb display: every built-in task (oracle → 1, no-op → 0), check_env, the controller's
OSWorld API, isolation of model code, clear errors for bad actions, recording, and clean teardown.

Needs Xvfb, bubblewrap and Chromium (scripts/setup.sh installs them; CI runs these); skips with the reason
otherwise. One desktop is shared per module where tests allow it (2-core machines).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time

import numpy as np
import pytest

from claw_envs.core.task import builtin_tasks_dir
from claw_envs.gui.tasks import GUITask, load_gui_tasks


def _gui_unavailable() -> str | None:
    from claw_envs.gui.display import display_unavailable
    from claw_envs.sandbox.local import local_sandbox_unavailable
    reason = local_sandbox_unavailable() or display_unavailable()
    if reason:
        return reason
    for tool, pkg in (("chromium", "chromium"), ("xterm", "xterm"), ("openbox", "openbox"), ("mousepad", "mousepad"),
                      ("xdotool", "xdotool")):
        if shutil.which(tool) is None:
            return f"`{tool}` not found (apt-get install {pkg}; scripts/setup.sh installs it)"
    import importlib.util
    if importlib.util.find_spec("pyautogui") is None:  # importing it needs a display; finding it is enough
        return "pyautogui is not installed (pip install 'claw-gym[gui]')"
    return None


_REASON = _gui_unavailable()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=f"GUI desktop: {_REASON}")
TASKS = load_gui_tasks(builtin_tasks_dir("gui"))


@pytest.fixture(scope="module")
def env():
    from claw_envs.gui.env import GUIEnv
    e = GUIEnv()
    yield e
    e.close()


def _task(tid: str, **kw) -> GUITask:
    data = {"id": tid, "instruction": "test", "config": [], "evaluator": {"func": "exact_match",
            "result": {"type": "vm_command_line", "command": "cat ~/out.txt 2>/dev/null", "shell": True},
            "expected": {"type": "rule", "rules": {"expected": "ok\n"}}}}
    data.update(kw)
    return GUITask(id=tid, instruction=data["instruction"], config=tuple(data["config"]), evaluator=data["evaluator"])


# -- every built-in task -------------------------------------------------------------------------------


@pytest.mark.parametrize("task_id", [t.id for t in TASKS])
def test_task_oracle_scores_1_and_noop_scores_0(env, task_id):
    from claw_envs.gui.validate import validate_task
    v = validate_task(env, task_id)
    assert v.error is None, v.error
    assert v.oracle_score == 1.0 and v.null_score == 0.0


# -- gymnasium -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("observation", ["chat", "dict"])
def test_check_env(observation):
    from gymnasium.utils.env_checker import check_env

    from claw_envs.gui.env import GUIEnv
    e = GUIEnv(task_ids=["term-make-note"], observation=observation, max_steps=3)
    try:
        check_env(e, skip_render_check=True)
        obs, _ = e.reset(options={"task_id": "term-make-note"})
        if observation == "dict":
            assert obs["screenshot"].shape == (720, 1280, 3) and obs["screenshot"].dtype == np.uint8
            assert obs["screenshot"].max() > 0  # a real picture, not a placeholder
        else:
            assert obs[0]["image"][:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        e.close()


def test_gym_make_and_next_state(env):
    import gymnasium as gym

    import claw_envs  # noqa: F401 - registers the ids
    assert "claw/GUI-v0" in gym.registry
    obs, info = env.reset(options={"task_id": "term-make-note"})
    assert info["state"]["active_window"] == "Terminal"
    obs, reward, term, trunc, info = env.step("```python\npyautogui.typewrite('echo hi > ~/x.txt\\n')\nprint('typed')\n```")
    ns = info["next_state"]
    assert ns.kind == "gui" and ns.role == "environment" and ns.exit_code == 0
    assert ns.image[:4] == b"\x89PNG" and "typed" in ns.text and ns.payload["active_window"] == "Terminal"
    assert obs[-1]["image"] == ns.image and reward == 0.0 and not term and not trunc
    _, _, term, _, info = env.step("FAIL")
    assert term and info["next_state"].done_reason == "gave_up" and info["evaluation"]["score"] == 0.0


def test_browser_next_state_reports_url_changes(env):
    env.reset(options={"task_id": "chrome-search-kettle"})
    _, _, _, _, info = env.step("```python\npyautogui.typewrite('mug'); pyautogui.press('enter')\n```")
    ns = info["next_state"]
    assert ns.payload["url"] == "http://127.0.0.1:8000/search.html?q=mug"
    assert "url" in ns.payload["changed"] and "Results for mug" in ns.payload["active_window"]
    env.step("DONE")


def test_accessibility_tree_in_observation():
    from claw_envs.gui.env import GUIEnv
    e = GUIEnv(task_ids=["chrome-search-kettle"], accessibility_tree=True)
    try:
        obs, _ = e.reset(options={"task_id": "chrome-search-kettle"})
        text = obs[0]["content"]
        assert "<desktop-frame" in text and 'name="Search"' in text and "search.html" in text
    finally:
        e.close()


# -- bad actions -----------------------------------------------------------------------------------------


def test_bad_actions_give_clear_errors_and_end_the_episode(env):
    env.reset(options={"task_id": "term-make-note"})
    _, _, term, _, info = env.step("```python\npyautogui.click(\n```")
    assert "not valid Python" in info["next_state"].text and not term
    assert info["next_state"].payload["parse_error"]
    _, _, term, _, info = env.step('{"action_type": "PRESS", "key": "hyperdrive"}')
    assert "unknown key 'hyperdrive'" in info["next_state"].text and not term
    _, _, term, _, info = env.step("```python\nraise ValueError('boom')\n```")  # runs, fails at run time
    assert info["next_state"].exit_code == 1 and "ValueError: boom" in info["next_state"].text and not term
    env.step("```python\npyautogui.click(\n```")
    env.step("```python\npyautogui.click(\n```")
    _, reward, term, _, info = env.step("not python at all ::")
    assert term and info["next_state"].done_reason == "parse_errors" and reward == 0.0
    with pytest.raises(RuntimeError, match="reset"):
        env.step("DONE")


def test_max_steps_truncates_and_scores(env):
    env.max_steps_override = 2
    try:
        env.reset(options={"task_id": "term-make-note"})
        env.step("WAIT")
        _, reward, term, trunc, info = env.step("WAIT")
        assert trunc and not term and info["next_state"].done_reason == "max_steps" and reward == 0.0
    finally:
        env.max_steps_override = None


# -- isolation ---------------------------------------------------------------------------------------------


def test_model_code_cannot_touch_host_files(env, tmp_path):
    marker = tmp_path / "host-secret.txt"
    marker.write_text("TOPSECRET-42")
    env.reset(options={"task_id": "term-make-note"})
    code = f"""
import os
out = []
for p in [{str(marker)!r}, {os.path.abspath("pyproject.toml")!r}, '/root/.bashrc', '/etc/shadow']:
    try:
        open(p).read(); out.append('READ ' + p)
    except OSError as e:
        out.append('denied ' + type(e).__name__)
for p in ['/etc/evil', '/usr/evil', {str(tmp_path / "written")!r}]:
    try:
        open(p, 'w').write('x'); out.append('WROTE ' + p)
    except OSError as e:
        out.append('denied ' + type(e).__name__)
open('/home/user/mine.txt', 'w').write('ok')
import socket
try:
    socket.create_connection(('pypi.org', 443), timeout=3); out.append('NET')
except OSError:
    out.append('no network')
print(' | '.join(out))
"""
    _, _, _, _, info = env.step(f"```python\n{code}\n```")
    text = info["next_state"].text
    assert "READ" not in text and "WROTE" not in text and "NET" not in text, text
    assert text.count("denied") == 7 and "no network" in text
    assert not (tmp_path / "written").exists() and marker.read_text() == "TOPSECRET-42"
    # the terminal the agent types into is inside the sandbox as well
    env.step(f"```python\npyautogui.typewrite('cat {marker} > ~/leak.txt 2>&1; ls / > ~/root.txt\\n'); time.sleep(0.5)\n```")
    leak = env.client.get_file("/home/user/leak.txt").decode()
    assert "TOPSECRET-42" not in leak and "No such file" in leak
    assert "work" not in env.client.get_file("/home/user/root.txt").decode().split()
    assert env.client.get_file("/home/user/mine.txt") == b"ok"
    env.step("DONE")


# -- the controller: OSWorld's API -------------------------------------------------------------------------


def test_controller_speaks_the_osworld_api(env):
    from PIL import Image

    from claw_envs.core.errors import SandboxError
    env.reset(options={"task_id": "chrome-docs-faq"})
    c = env.client
    assert c.screen_size() == (1280, 720)
    im = Image.open(io.BytesIO(c.screenshot()))
    assert im.size == (1280, 720) and im.mode == "RGB"
    r = c.execute(["bash", "-c", "echo out; echo err >&2; exit 3"])
    assert (r["status"], r["output"], r["error"], r["returncode"]) == ("error", "out\n", "err\n", 3)
    assert c.execute("echo $HOME $DISPLAY", shell=True)["output"] == "/home/user :0\n"
    c.put_file("/home/user/Desktop/data.bin", bytes(range(256)))
    assert c.get_file("/home/user/Desktop/data.bin") == bytes(range(256))
    assert c.run_python("print(pyautogui.size())")["output"].strip() == "Size(width=1280, height=720)"
    tree = c.accessibility_tree()
    assert "docs/index.html" in tree and "Address and search bar" in tree
    assert c.active_tab()["title"] == "Documentation - Claw Mart Docs"
    assert c.browser_eval("1 + 2") == 3
    status, _, body = c.request("GET", "/no/such/endpoint")
    assert status == 404 and b"no endpoint" in body
    with pytest.raises(SandboxError, match="HTTP 400.*command"):
        c._call("POST", "/execute", {"shell": True})
    with pytest.raises(SandboxError, match="could not fetch"):
        c.get_file("/home/user/does-not-exist")
    listing = c._call("POST", "/list_directory", {"path": "/home/user/Desktop"})
    assert {"name": "data.bin", "type": "file"} in listing["entries"]
    env.step("DONE")


def test_osworld_provider_drives_an_existing_server():
    """The ``osworld`` provider only needs a URL: point it at a running controller and play a task."""
    from claw_envs.gui.env import GUIEnv
    from claw_envs.gui.providers import LocalProvider
    server = LocalProvider()
    url = server.start()
    try:
        e = GUIEnv(task_ids=["term-count-errors"], provider="osworld", url=url, token=server.token)
        try:
            e.reset(options={"task_id": "term-count-errors"})
            reward, _ = e.run_oracle()
            assert reward == 1.0
        finally:
            e.close()
        assert server.proc is not None and server.proc.poll() is None  # the osworld provider starts/stops nothing
    finally:
        server.stop()


def test_docker_provider_skips_without_engine():
    from claw_envs.gui.providers import DockerProvider
    reason = DockerProvider.unavailable()
    if reason:
        pytest.skip(f"docker provider: {reason}")
    from claw_envs.gui.env import GUIEnv
    e = GUIEnv(task_ids=["term-make-note"], provider="docker")
    try:
        e.reset(options={"task_id": "term-make-note"})
        assert e.run_oracle()[0] == 1.0
    finally:
        e.close()


# -- recording and teardown --------------------------------------------------------------------------------


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
                out.update(kids)
                todo.extend(kids)
        except OSError:
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_recording_and_clean_teardown(tmp_path):
    from PIL import Image

    from claw_envs.gui.env import GUIEnv
    e = GUIEnv(task_ids=["chrome-search-kettle"], record_dir=str(tmp_path), record_format="both")
    e.reset(options={"task_id": "chrome-search-kettle"})
    assert e.run_oracle()[0] == 1.0
    gif = tmp_path / "chrome-search-kettle-ep1.gif"
    assert gif.is_file() and Image.open(gif).n_frames == 3  # start, the search, DONE
    assert (tmp_path / "chrome-search-kettle-ep1.png").is_file()
    server = e.provider.proc.pid
    procs = _descendants(server) | {server}
    names = set()
    for p in procs:
        try:
            with open(f"/proc/{p}/comm") as f:
                names.add(f.read().strip())
        except OSError:
            pass
    assert {"Xvfb", "bwrap"} <= names and any(n.startswith("chrom") for n in names), names
    display = e.provider.info["display"]
    e.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in procs):
        time.sleep(0.05)
    assert not [p for p in procs if _alive(p)], "desktop processes left behind"
    assert not os.path.exists(f"/tmp/.X11-unix/X{display.lstrip(':')}")
    json.dumps(e.recorded, default=str)
