"""Result getters, named as OSWorld names them (``evaluator.result.type = "vm_file"`` → ``get_vm_file``).

Every getter is ``get_<type>(env, config) -> value`` where ``env`` is a ``GetterEnv`` (the controller
client, the task, a cache folder) and ``config`` the evaluator's ``result``/``expected`` object. A getter
returns None when the thing it reads does not exist (a missing file, no browser): metrics score None as 0.

File getters return a *local path* (in ``env.cache_dir``), as OSWorld's do, so metrics like ``compare_table``
and ``compare_text_file`` receive paths. Browser getters use the controller's CDP pipe (claw controllers)
and fall back to OSWorld's way — the accessibility tree, then Chrome's debugging port 9222 through
Playwright — on a plain OSWorld VM.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from claw_envs.core.errors import SandboxError
from claw_envs.gui.client import ControllerClient
from claw_envs.gui.osworld import Unsupported
from claw_envs.gui.setup_steps import SetupContext
from claw_envs.gui.tasks import GUITask


@dataclass
class GetterEnv:
    """What getters may use: the desktop's controller, the task (for its own files), a cache folder and the
    episode's set-up context (placeholders, download cache)."""

    controller: ControllerClient
    task: GUITask
    cache_dir: str
    action_history: list[Any] = field(default_factory=list)
    setup: SetupContext = field(default_factory=SetupContext)


def _dest(env: GetterEnv, config: dict, path: str) -> str:
    name = config.get("dest") or os.path.basename(path.rstrip("/")) or "file"
    os.makedirs(env.cache_dir, exist_ok=True)
    return os.path.join(env.cache_dir, os.path.basename(name))


def get_vm_file(env: GetterEnv, config: dict) -> str | list | None:
    """Copy a file of the desktop to the cache; its local path (None when missing). ``multi`` takes lists."""
    if config.get("multi"):
        paths, dests = config["path"], config.get("dest") or [None] * len(config["path"])
        out = [get_vm_file(env, {"path": p, "dest": d}) for p, d in zip(paths, dests, strict=True)]
        gives = config.get("gives") or list(range(len(out)))
        return out[gives[0]] if len(gives) == 1 else [out[i] for i in gives]
    try:
        data = env.controller.get_file(config["path"])
    except SandboxError:
        return None
    dest = _dest(env, config, config["path"])
    Path(dest).write_bytes(data)
    return dest


def get_cloud_file(env: GetterEnv, config: dict) -> str | list:
    """The expected file: in OSWorld a download; here a file of the task's folder (no network)."""
    if config.get("multi"):
        paths = config["path"]
        dests = config.get("dest") or [None] * len(paths)
        out = [get_cloud_file(env, {"path": p, "dest": d}) for p, d in zip(paths, dests, strict=True)]
        gives = config.get("gives") or list(range(len(out)))
        return out[gives[0]] if len(gives) == 1 else [out[i] for i in gives]
    src = config["path"]
    if re.match(r"^[a-z]+://", src) and not src.startswith("file://"):
        data = env.setup.cache.get(env.task.id, src, config.get("dest") or os.path.basename(src)).read_bytes()
    else:
        data = env.task.local_path(src).read_bytes()
    dest = _dest(env, {**config, "dest": "expected_" + (config.get("dest") or os.path.basename(src))}, src)
    Path(dest).write_bytes(data)
    return dest


def get_cache_file(env: GetterEnv, config: dict) -> str:
    """A file of the episode's cache: a set-up command's kept ``stdout``/``stderr`` (by name), else as
    ``cloud_file``."""
    name = os.path.basename(str(config.get("path", "")))
    if not isinstance(config.get("path"), list) and name in env.setup.outputs:
        dest = _dest(env, {"dest": config.get("dest") or name}, name)
        Path(dest).write_text(env.setup.outputs[name])
        return dest
    return get_cloud_file(env, config)


def get_vm_command_line(env: GetterEnv, config: dict) -> str | None:
    """stdout of a command run on the desktop."""
    r = env.controller.execute(config["command"], bool(config.get("shell", False)), float(config.get("timeout", 60)))
    return r.get("output")


def get_vm_command_error(env: GetterEnv, config: dict) -> str | None:
    r = env.controller.execute(config["command"], bool(config.get("shell", False)), float(config.get("timeout", 60)))
    return r.get("error")


def get_rule(env: GetterEnv, config: dict) -> Any:
    return config["rules"]


def get_list_directory(env: GetterEnv, config: dict) -> Any:
    """OSWorld's shape: ``{"name", "type": "directory", "children": [{"name", "type"}]}`` (None if missing)."""
    try:
        r = env.controller._call("POST", "/list_directory", {"path": config["path"]})
    except SandboxError:
        return None
    return {"name": os.path.basename(r["path"].rstrip("/")), "type": "directory", "path": r["path"],
            "children": r["entries"]}


def get_vm_screen_size(env: GetterEnv, config: dict) -> dict[str, int]:
    w, h = env.controller.screen_size()
    return {"width": w, "height": h}


def get_vm_window_size(env: GetterEnv, config: dict) -> dict | None:
    try:
        return env.controller._call("POST", "/window_size", {"app_class_name": config["app_class_name"]})
    except SandboxError:
        return None


def get_accessibility_tree(env: GetterEnv, config: dict) -> str:
    return env.controller.accessibility_tree()


def get_vm_terminal_output(env: GetterEnv, config: dict) -> str | None:
    try:
        return env.controller._call("GET", "/terminal").get("output")
    except SandboxError:
        return None


# -- browser ----------------------------------------------------------------------------------------
def _url_from_tree(tree: str) -> str | None:
    try:
        root = ET.fromstring(tree)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.endswith("entry") and el.get("name") == "Address and search bar":
            return el.get("text") or (el.text or "").strip() or None
    return None


def _playwright_tab(env: GetterEnv) -> dict | None:  # pragma: no cover - needs a real OSWorld VM
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    host = env.controller.host
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(f"http://{host}:9222")
        pages = [pg for ctx in browser.contexts for pg in ctx.pages]
        if not pages:
            return None
        pg = pages[-1]
        return {"title": pg.title(), "url": pg.url, "content": pg.inner_text("body")}


def get_active_tab_info(env: GetterEnv, config: dict) -> dict | None:
    """``{"title", "url", "content"}`` of the browser's active tab, or None without a browser."""
    c = env.controller
    if c.has_claw:
        try:
            return c.active_tab()
        except SandboxError:
            return None
    return _playwright_tab(env)


def get_active_url_from_accessTree(env: GetterEnv, config: dict) -> str | None:  # noqa: N802 - OSWorld's name
    """The active tab's URL (``goto_prefix`` prepended as OSWorld does when the URL lacks a scheme)."""
    c = env.controller
    url = None
    if c.has_claw:
        try:
            url = c.active_tab()["url"]
        except SandboxError:
            url = None
    if url is None:
        url = _url_from_tree(c.accessibility_tree())
    if url is None:
        return None
    prefix = config.get("goto_prefix", "")
    return url if "://" in url or not prefix else prefix + url


def get_open_tabs_info(env: GetterEnv, config: dict) -> list | None:
    if not env.controller.has_claw:
        return None
    try:
        return env.controller.tabs()
    except SandboxError:
        return None


def get_page_info(env: GetterEnv, config: dict) -> dict | None:
    return get_active_tab_info(env, config)


def get_active_tab_html_parse(env: GetterEnv, config: dict) -> dict | None:
    """Texts of the active page's elements: ``{"category": "xpath"|"class"|"id", "xpathObject"/
    "class_singleObject"/"id_object": {selector: key}}`` → ``{key: text}`` (OSWorld's shape, common cases)."""
    c = env.controller
    if not c.has_claw:
        return None
    cat = config.get("category", "xpath")
    table = {"xpath": config.get("xpathObject", {}), "class": config.get("class_singleObject", {}),
             "id": config.get("id_object", {})}.get(cat, {})
    out = {}
    for sel, key in table.items():
        if cat == "xpath":
            js = ("(() => {const r = document.evaluate(%s, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null)"
                  ".singleNodeValue; return r ? (r.value !== undefined && r.value !== '' ? r.value : r.innerText) : null;})()")
        elif cat == "class":
            js = "(() => {const r = document.getElementsByClassName(%s)[0]; return r ? r.innerText : null;})()"
        else:
            js = "(() => {const r = document.getElementById(%s); return r ? (r.value ?? r.innerText) : null;})()"
        import json
        try:
            out[key] = c.browser_eval(js % json.dumps(sel))
        except SandboxError:
            out[key] = None
    return out


def get_claw_browser_eval(env: GetterEnv, config: dict) -> Any:
    """claw: the JSON value of a JavaScript ``expression`` in the active tab (None without a browser)."""
    try:
        return env.controller.browser_eval(config["expression"])
    except SandboxError:
        return None


def get_claw_active_window(env: GetterEnv, config: dict) -> str | None:
    """claw: the title of the focused window."""
    return env.controller.state().get("active_window") if env.controller.has_claw else None


def _getter_tables() -> list[dict[str, Any]]:
    from claw_envs.gui import getters_apps, getters_chrome, relative_time
    return [globals(), vars(getters_chrome), vars(relative_time), vars(getters_apps)]


def getter(name: str):
    """The getter for a ``result``/``expected`` ``type`` (here, ``getters_chrome`` or ``relative_time``);
    ``Unsupported`` names the known ones when unknown."""
    tables = _getter_tables()
    fn = next((t[f"get_{name}"] for t in tables if callable(t.get(f"get_{name}"))), None)
    if fn is None:
        known = sorted(k[4:] for t in tables for k, v in t.items() if k.startswith("get_") and callable(v))
        raise Unsupported(f"unknown getter type {name!r}; known here: {', '.join(known)}", "getter", name)
    return fn


def get_pdf_from_url(env: GetterEnv, config: dict) -> str:
    """OSWorld prints a live web page to PDF; here the PDF comes from the download cache (``DownloadNeeded``
    names the URL and the cache path to put the PDF at when it is not there)."""
    name = config.get("dest") or "page.pdf"
    data = env.setup.cache.get(env.task.id, config["path"], name).read_bytes()
    dest = _dest(env, {"dest": "expected_" + os.path.basename(name)}, name)
    Path(dest).write_bytes(data)
    return dest
