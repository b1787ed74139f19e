"""VS Code on claw/GUI-v0's desktop: the ``code`` command is code-server in a Chromium app window (session_bin).

* the ``code`` wrapper's CLI part, with a stand-in for code-server (no desktop needed): VS Code's folders are
  passed, a marketplace id fails with exit 1 and the reason (no network), a missing install exits 127;
* OSWorld's ``vs_code`` tasks that need no download reset and evaluate, and doing nothing scores 0;
* a scripted agent solves OSWorld's 276cc624 ("set the line length for code wrapping to 50") through VS Code's
  own UI (command palette → "Preferences: Open User Settings (JSON)", typed JSON, Ctrl+S) and scores 1;
* the eval-extension path of OSWorld's ``vscode_config`` getter: a ``.vsix`` built here is installed with
  ``code --install-extension``, an agent runs ``code ~/project`` in a terminal, and the extension's command
  (run by the getter through the command palette) reports the opened folder; a no-op scores 0.

The desktop tests skip with the reason when the desktop, ``../shared/osworld`` or code-server (scripts/setup.sh
installs it into /usr/local/lib/code-server) is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from claw_envs.gui.session_bin import CODE_SERVER_DIR, code_server_installed, code_wrapper
from tests.test_gui import _REASON as GUI_REASON

OSWORLD = Path(__file__).resolve().parents[1].parent / "shared" / "osworld"
needs_desktop = pytest.mark.skipif(GUI_REASON is not None, reason=f"GUI desktop: {GUI_REASON}")
needs_code = pytest.mark.skipif(not code_server_installed(), reason=f"code-server (VS Code) is not installed at "
                                f"{CODE_SERVER_DIR} (scripts/setup.sh installs it)")
needs_osworld = pytest.mark.skipif(not OSWORLD.is_dir(), reason=f"OSWorld's task files are not at {OSWORLD}")


def _wrapper(tmp_path: Path, node: str) -> Path:
    entry = tmp_path / "entry.js"
    entry.write_text("")
    script = tmp_path / "code"
    script.write_text(code_wrapper(node=node, entry=str(entry)))
    script.chmod(0o755)
    return script


def test_code_wrapper_cli_passes_vscode_folders_and_refuses_marketplace_ids(tmp_path):
    stub = tmp_path / "node"
    stub.write_text('#!/bin/bash\necho "ARGS $*"\n')
    stub.chmod(0o755)
    code = _wrapper(tmp_path, str(stub))
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    assert subprocess.run(["bash", "-n", str(code)]).returncode == 0
    r = subprocess.run([str(code), "--list-extensions"], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r
    assert f"--user-data-dir {home}/.config/Code --extensions-dir {home}/.vscode/extensions" in r.stdout
    assert r.stdout.rstrip().endswith("--list-extensions")
    vsix = tmp_path / "x.vsix"
    vsix.write_bytes(b"PK")
    r = subprocess.run([str(code), "--install-extension", str(vsix)], capture_output=True, text=True, env=env,
                       timeout=30)
    assert r.returncode == 0 and f"--install-extension {vsix}" in r.stdout, r
    r = subprocess.run([str(code), "--install-extension", "ms-python.python"], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode == 1 and "Extension 'ms-python.python' not found." in r.stderr and "no network" in r.stderr, r
    assert (home / ".config/Code/User").is_dir() and (home / ".vscode/extensions").is_dir()
    missing = _wrapper(tmp_path, str(tmp_path / "no-node"))
    r = subprocess.run([str(missing)], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 127 and "not installed" in r.stderr and "scripts/setup.sh" in r.stderr, r


def _no_download_vs_code_ids() -> list[str]:
    from claw_envs.gui.check import needs_download
    from claw_envs.gui.tasks import load_gui_tasks
    return [t.id for t in load_gui_tasks(OSWORLD / "vs_code") if not needs_download(t)]


@pytest.mark.slow
@needs_desktop
@needs_code
@pytest.mark.timeout(600)  # 13 tasks, ~5 s each measured
@needs_osworld
def test_vs_code_tasks_without_downloads_run_and_noop_scores_0(tmp_path):
    from claw_envs.gui.check import RAN, format_table, run_check
    ids = _no_download_vs_code_ids()
    assert len(ids) == 13
    results = run_check(str(OSWORLD / "vs_code"), ids, download_cache=str(tmp_path / "cache"), offline=True)
    table = format_table(results)
    print(table)
    assert [r.outcome for r in results] == [RAN] * len(ids), table
    assert all(r.score in (0, 0.0) for r in results), table


TYPE_SETTINGS = ("pyautogui.hotkey('ctrl', 'a'); pyautogui.write('{\"editor.wordWrapColumn\": 50}', interval=0.05); "
                 # VS Code may auto-close the quote and brace it typed over: delete whatever follows the cursor
                 "time.sleep(1); pyautogui.hotkey('ctrl', 'shift', 'end'); pyautogui.press('delete'); "
                 "pyautogui.hotkey('ctrl', 's'); time.sleep(2)")
WRAP_50 = ["time.sleep(3); pyautogui.hotkey('ctrl', 'shift', 'p'); time.sleep(1.5)",
           "pyautogui.write('Preferences: Open User Settings (JSON)', interval=0.02); time.sleep(1.5); "
           "pyautogui.press('enter'); time.sleep(3)",
           TYPE_SETTINGS, "DONE"]


@pytest.mark.slow
@needs_desktop
@needs_code
@pytest.mark.timeout(300)
@needs_osworld
def test_scripted_agent_sets_wrap_column_through_vs_code_ui(tmp_path):
    from claw_envs.gui.env import GUIEnv
    from claw_envs.gui.tasks import load_gui_tasks
    task = [t for t in load_gui_tasks(OSWORLD / "vs_code") if t.id.startswith("276cc624")][0]
    env = GUIEnv(tasks=[task], download_cache=str(tmp_path), offline=True)
    try:
        env.reset(options={"task_id": task.id})
        assert any("Visual Studio Code" in w for w in env.client.state()["windows"])
        noop = env.step("DONE")[1]
        env.reset(options={"task_id": task.id})
        for action in WRAP_50:
            _, reward, term, trunc, info = env.step(action)
            if term or trunc:
                break
        settings = env.client.execute("cat ~/.config/Code/User/settings.json", True, 10)["output"]
    finally:
        env.close()
    assert noop == 0.0
    assert reward == 1.0, (settings, json.dumps(info.get("outcome"), default=str)[:600])


_EXT_JS = """const vscode = require('vscode'); const fs = require('fs'); const os = require('os');
exports.activate = function (context) {
  context.subscriptions.push(vscode.commands.registerCommand('OpenProject', function () {
    const f = vscode.workspace.workspaceFolders;
    fs.writeFileSync(os.homedir() + '/OpenProject.txt', f && f.length ? f[0].name : '');
  }));
};
exports.deactivate = function () {};
"""
_MANIFEST = """<?xml version="1.0" encoding="utf-8"?>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011">
  <Metadata><Identity Language="en-US" Id="eval" Version="0.0.1" Publisher="claw"/><DisplayName>eval</DisplayName>
    <Description xml:space="preserve">claw test extension</Description>
    <Properties><Property Id="Microsoft.VisualStudio.Code.Engine" Value="^1.60.0"/></Properties></Metadata>
  <Installation><InstallationTarget Id="Microsoft.VisualStudio.Code"/></Installation><Dependencies/>
  <Assets><Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json" Addressable="true"/></Assets>
</PackageManifest>
"""


def _eval_vsix(path: Path) -> None:
    """A VS Code extension like OSWorld's eval extension: command ``OpenProject`` writes the open folder's name
    to ~/OpenProject.txt."""
    pkg = {"name": "eval", "publisher": "claw", "version": "0.0.1", "engines": {"vscode": "^1.60.0"},
           "main": "./extension.js", "activationEvents": ["onCommand:OpenProject"],
           "contributes": {"commands": [{"command": "OpenProject", "title": "OpenProject"}]}}
    types = ('<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
             'content-types"><Default Extension=".json" ContentType="application/json"/><Default Extension=".js" '
             'ContentType="application/javascript"/><Default Extension=".vsixmanifest" ContentType="text/xml"/></Types>')
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", types)
        z.writestr("extension.vsixmanifest", _MANIFEST)
        z.writestr("extension/package.json", json.dumps(pkg))
        z.writestr("extension/extension.js", _EXT_JS)


@pytest.mark.slow
@needs_desktop
@needs_code
@pytest.mark.timeout(300)
def test_vsix_install_code_folder_and_vscode_config_getter(tmp_path):
    from claw_envs.gui.env import GUIEnv
    from claw_envs.gui.tasks import load_gui_tasks
    (tmp_path / "claw-vscode-eval").mkdir()
    _eval_vsix(tmp_path / "claw-vscode-eval" / "eval.vsix")
    task = {"id": "claw-vscode-eval", "instruction": "Start VS Code in the folder ~/project from the terminal.",
            "config": [{"type": "upload_file", "parameters": {"files": [
                           {"local_path": "eval.vsix", "path": "/home/user/Downloads/eval.vsix"}]}},
                       {"type": "execute", "parameters": {"command": [
                           "/bin/bash", "-c", "code --install-extension ~/Downloads/eval.vsix && mkdir -p ~/project"]}},
                       {"type": "launch", "parameters": {"command": ["code"]}},
                       {"type": "activate_window", "parameters": {"window_name": "Visual Studio Code"}}],
            "evaluator": {"postconfig": [{"type": "activate_window",
                                          "parameters": {"window_name": "Visual Studio Code"}}],
                          "func": ["is_extension_installed", "compare_config"],
                          "result": [{"type": "vm_command_line",
                                      "command": ["code", "--list-extensions", "|", "grep", "claw.eval"]},
                                     {"type": "vscode_config", "vscode_extension_command": "OpenProject",
                                      "path": "/home/user/OpenProject.txt", "dest": "OpenProject.txt"}],
                          "expected": [{"type": "rule", "rules": {"type": "contain", "expected": "claw.eval"}},
                                       {"type": "rule", "rules": {"expected": "project"}}]}}
    (tmp_path / "claw-vscode-eval.json").write_text(json.dumps(task))
    tasks = load_gui_tasks(tmp_path / "claw-vscode-eval.json")
    plan = ["time.sleep(2); pyautogui.hotkey('ctrl', 'alt', 't'); time.sleep(2)",
            "pyautogui.write('code ~/project\\n', interval=0.01); time.sleep(6)", "DONE"]
    env = GUIEnv(tasks=tasks, download_cache=str(tmp_path / "cache"), offline=True)
    try:
        env.reset(options={"task_id": "claw-vscode-eval"})
        listed = env.client.execute(["code", "--list-extensions"], False, 60)["output"]
        noop = env.step("DONE")[1]
        env.reset(options={"task_id": "claw-vscode-eval"})
        for action in plan:
            _, reward, term, trunc, info = env.step(action)
        windows = env.client.state()["windows"]
    finally:
        env.close()
    assert listed.split() == ["claw.eval"]
    assert noop == 0.0
    assert any("project - Visual Studio Code" in w for w in windows), windows
    assert term and reward == 1.0, json.dumps(info.get("outcome"), default=str)[:600]

