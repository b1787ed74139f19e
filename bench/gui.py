"""Benchmark claw/GUI-v0 on this machine; every figure has its baseline measured in the same run.

* screenshot latency p50/p95 at 1280×720 through the controller (``GET /screenshot``: grab + PNG + HTTP) with
  Chromium showing a page, vs ``import -window root png:-`` (ImageMagick) and a raw ``mss`` grab (no encoding)
  of the same display;
* reset latency p50/p95 of a terminal task and of a Chromium task (fresh session + task set-up + first
  screenshot), the first desktop start reported separately;
* 8 concurrent desktops (threads, one xterm task each): start+reset time, action steps/s, screenshot p50 under
  that load, and the processes/threads they use;
* reset latency per app domain (OSWorld's own task files from ../shared/osworld where one needs no download,
  else a task that starts the app), and the threads and resident memory of the app's processes after reset.

Usage: python bench/gui.py [--quick] [--apps-only]   (results also written to bench/results/gui.json;
``--apps-only`` measures only the app domains and keeps the other figures of the file)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.stats import pct, timed  # noqa: E402
from claw_envs.gui.env import GUIEnv  # noqa: E402
from claw_envs.vector import ClawVectorEnv  # noqa: E402


def stats(xs: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(xs, 50), 2), "p95_ms": round(pct(xs, 95), 2), "n": len(xs)}


def count_tasks() -> tuple[int, int]:
    procs = threads = 0
    for e in os.scandir("/proc"):
        if e.name.isdigit():
            try:
                threads += len(os.listdir(f"/proc/{e.name}/task"))
                procs += 1
            except OSError:
                pass
    return procs, threads


def bench_screenshots(n: int) -> dict:
    import mss
    env = GUIEnv(task_ids=["chrome-search-kettle"])
    try:
        env.reset(options={"task_id": "chrome-search-kettle"})
        c = env.client
        display = env.provider.info["display"]
        c.screenshot()
        ours = timed(c.screenshot, n)
        im = timed(lambda: subprocess.run(["import", "-display", display, "-window", "root", "png:-"],
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True), n)
        with mss.MSS(display=display) as s:
            mon = s.monitors[1]
            s.grab(mon)
            raw = timed(lambda: s.grab(mon), n)
        size = len(c.screenshot())
    finally:
        env.close()
    out = {"controller_png": stats(ours), "imagemagick_import": stats(im), "mss_raw_grab": stats(raw),
           "png_bytes": size}
    out["ratio_vs_import_p50"] = round(out["controller_png"]["p50_ms"] / out["imagemagick_import"]["p50_ms"], 3)
    out["ratio_vs_mss_raw_p50"] = round(out["controller_png"]["p50_ms"] / out["mss_raw_grab"]["p50_ms"], 2)
    return out


def bench_resets(n: int) -> dict:
    out = {}
    env = GUIEnv(task_ids=["term-make-note", "chrome-docs-faq"])
    try:
        t = time.perf_counter()
        env.reset(options={"task_id": "term-make-note"})
        out["first_reset_with_desktop_start_ms"] = round((time.perf_counter() - t) * 1000, 1)
        for tid in ("term-make-note", "chrome-docs-faq"):
            env.reset(options={"task_id": tid})
            out[tid] = stats(timed(lambda tid=tid: env.reset(options={"task_id": tid}), n))
    finally:
        env.close()
    return out


def bench_concurrent(k: int, steps: int) -> dict:
    before = count_tasks()
    t = time.perf_counter()
    vec = ClawVectorEnv([lambda: GUIEnv(task_ids=["term-make-note"]) for _ in range(k)], max_workers=k)
    try:
        vec.reset(options={"task_id": "term-make-note"})
        start_reset = time.perf_counter() - t
        during = count_tasks()
        action = "```python\npyautogui.moveTo(100, 100); pyautogui.moveTo(600, 400)\n```"
        t = time.perf_counter()
        errors = 0
        for _ in range(steps):
            _, _, _, _, infos = vec.step([action] * k)
            errors += int(sum(1 for e in infos.get("error", []) if e)) if "error" in infos else 0
        step_time = time.perf_counter() - t
        shots = []
        for e in vec.envs:
            shots += timed(e.client.screenshot, 5)
    finally:
        vec.close()
    after = count_tasks()
    return {"desktops": k, "start_and_reset_s": round(start_reset, 2), "steps": steps * k,
            "steps_per_s": round(steps * k / step_time, 2), "step_errors": errors,
            "screenshot_under_load": stats(shots), "processes_added": during[0] - before[0],
            "threads_added": during[1] - before[1], "processes_left_after_close": after[0] - before[0],
            "cpus": os.cpu_count()}


OSWORLD = Path(__file__).resolve().parents[2] / "shared" / "osworld"
# app domain -> (OSWorld task file without downloads, or None) and the app command of a stand-in task
APP_TASKS = {"libreoffice_calc": (None, ["libreoffice", "--calc"]),
             "libreoffice_writer": (None, ["libreoffice", "--writer"]),
             "libreoffice_impress": ("libreoffice_impress/2cd43775-7085-45d8-89fa-9e35c0a915cf.json", None),
             "vlc": ("vlc/9195653c-f4aa-453d-aa95-787f6ccfaae9.json", None),
             "gimp": ("gimp/7b7617bd-57cc-468e-9c91-40c4ec2bcb3d.json", None),
             "thunderbird": (None, ["thunderbird"]),
             "vs_code": ("vs_code/276cc624-87ea-4f08-ab93-f770e3790175.json", None),
             "multi_apps": ("multi_apps/48d05431-6cd5-4e76-82eb-12b60d823f7d.json", None)}
_SESSION = {"bash", "ps", "openbox", "dbus-daemon", "python3", "socat", "sleep", "bwrap", "xterm"}


def bench_app_resets(n: int) -> dict:
    """Reset p50/p95 per app domain, and the app's threads/RSS right after a reset."""
    from claw_envs.gui.apps import VSCODE_REASON
    from claw_envs.gui.session_bin import code_server_installed
    from claw_envs.gui.tasks import GUITask, load_gui_task
    tasks, source = [], {}
    out: dict = {}
    for domain, (rel, cmd) in APP_TASKS.items():
        if domain == "vs_code" and not code_server_installed():
            out["vs_code"] = {"unsupported": VSCODE_REASON}
            continue
        if rel and (OSWORLD / rel).is_file():
            t = load_gui_task(OSWORLD / rel)
            source[domain] = f"osworld {t.id}"
        else:
            t = GUITask(id=f"bench-{domain}", instruction="start the app",
                        config=({"type": "launch", "parameters": {"command": cmd}},),
                        evaluator={"func": "infeasible"})
            source[domain] = f"launch {' '.join(cmd)}"
        tasks.append((domain, t))
    env = GUIEnv(tasks=[t for _, t in tasks], offline=True)
    try:
        env.reset(options={"task_id": tasks[0][1].id})
        for domain, t in tasks:
            env.reset(options={"task_id": t.id})
            times = timed(lambda t=t: env.reset(options={"task_id": t.id}), n)
            ps = env.client.execute("ps -eo nlwp=,rss=,comm=", True, 10).get("output") or ""
            rows = [ln.split(None, 2) for ln in ps.splitlines() if len(ln.split(None, 2)) == 3]
            app = [r for r in rows if r[2] not in _SESSION and not r[2].startswith("chromium")] \
                if domain not in ("multi_apps", "vs_code") else [r for r in rows if r[2] not in _SESSION]
            out[domain] = {**stats(times), "task": source[domain], "threads": sum(int(r[0]) for r in app),
                           "rss_mb": round(sum(int(r[1]) for r in app) / 1024), "processes": len(app)}
    finally:
        env.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--apps-only", action="store_true", help="only the app domains' resets (other figures kept)")
    a = ap.parse_args()
    out = Path(__file__).resolve().parent / "results" / "gui.json"
    if a.apps_only:
        res = json.loads(out.read_text()) if out.is_file() else {"machine": {"cpus": os.cpu_count()}}
        res["app_reset"] = bench_app_resets(2 if a.quick else 5)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2) + "\n")
        _print_apps(res["app_reset"])
        print(f"wrote {out}")
        return
    n = 15 if a.quick else 50
    res = {"machine": {"cpus": os.cpu_count()}, "screen": "1280x720"}
    res["screenshot"] = bench_screenshots(n)
    res["reset"] = bench_resets(3 if a.quick else 10)
    res["concurrent"] = bench_concurrent(8, 2 if a.quick else 5)
    res["app_reset"] = bench_app_resets(2 if a.quick else 5)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    s, r, c = res["screenshot"], res["reset"], res["concurrent"]
    print(f"screenshot p50/p95: controller {s['controller_png']['p50_ms']}/{s['controller_png']['p95_ms']} ms "
          f"(target <= 30) | import -window root {s['imagemagick_import']['p50_ms']}/"
          f"{s['imagemagick_import']['p95_ms']} ms | raw mss grab {s['mss_raw_grab']['p50_ms']} ms")
    print(f"  ratio controller/import p50 = {s['ratio_vs_import_p50']}x; controller/raw grab = "
          f"{s['ratio_vs_mss_raw_p50']}x")
    print(f"reset p50/p95: terminal task {r['term-make-note']['p50_ms']}/{r['term-make-note']['p95_ms']} ms, "
          f"chromium task {r['chrome-docs-faq']['p50_ms']}/{r['chrome-docs-faq']['p95_ms']} ms (target <= 2000); "
          f"first reset incl. desktop start {r['first_reset_with_desktop_start_ms']} ms")
    print(f"{c['desktops']} concurrent desktops on {c['cpus']} cores: start+reset {c['start_and_reset_s']} s, "
          f"{c['steps_per_s']} steps/s, screenshot p50 under load {c['screenshot_under_load']['p50_ms']} ms, "
          f"+{c['processes_added']} processes / +{c['threads_added']} threads, "
          f"{c['processes_left_after_close']} left after close")
    _print_apps(res["app_reset"])
    print(f"wrote {out}")


def _print_apps(r: dict) -> None:
    for domain, v in r.items():
        if "unsupported" in v:
            print(f"reset {domain}: unsupported ({v['unsupported'][:60]}...)")
        else:
            print(f"reset {domain} ({v['task']}): p50/p95 {v['p50_ms']}/{v['p95_ms']} ms; app after reset "
                  f"{v['processes']} processes, {v['threads']} threads, {v['rss_mb']} MB RSS")


if __name__ == "__main__":
    main()
