"""The docker backend's own mechanisms, against a real engine: the image builder's cache, the seccomp profile,
MemoryError, the command reader's recovery, the warm pool, no leaked containers (a killed owner, a failed start),
Terminal-v0 on docker, and a Harbor task whose Dockerfile was written for ``python:3.11-slim``.

The shared conformance and hostile suites run on this backend too (tests/test_sandbox_conformance.py,
tests/test_hostile.py). Everything here skips, with the reason, only when no Docker engine answers."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest

from claw_envs.core.errors import SandboxError, TaskError
from claw_envs.sandbox import SandboxConfig, ShellSession
from tests.docker_support import DOCKER_REASON, docker_image  # noqa: F401  (docker_image: a fixture)

pytestmark = [pytest.mark.skipif(DOCKER_REASON is not None, reason=f"docker backend: {DOCKER_REASON}"),
              pytest.mark.usefixtures("docker_image")]
REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
_SYSCALL = ("python3 -c \"import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); "
            "r=l.syscall(*[int(a) for a in sys.argv[1:]]); print(r, ctypes.get_errno())\"")


def _containers(owner: str | None = None) -> list[str]:
    label = f"claw-gym.owner={owner}" if owner else "claw-gym.sandbox=1"
    r = subprocess.run(["docker", "ps", "-aq", "--no-trunc", "--filter", f"label={label}"], capture_output=True,
                       text=True, timeout=60)
    return r.stdout.split()


def _sandbox(**kw):
    from claw_envs.sandbox.docker import DockerSandbox

    return DockerSandbox(SandboxConfig(**{"timeout": 10, "pool": 0, **kw}))


def test_image_build_is_cached_and_the_cli_says_so():
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "claw_trainer.cli", "images", "build"], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "terminal: claw-gym/terminal:latest" in r.stdout
    assert time.monotonic() - t0 < 15  # interpreter start + the checks; the checks alone are well under 1 s
    from claw_envs.sandbox.images import ensure_image

    t0 = time.monotonic()
    assert ensure_image("terminal") == "claw-gym/terminal:latest"
    assert time.monotonic() - t0 < 1.0
    bad = subprocess.run([sys.executable, "-m", "claw_trainer.cli", "images", "build", "nosuch"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "choose one of" in bad.stdout


def test_unbuildable_from_is_a_clear_error():
    from claw_envs.sandbox.images import map_from, rewrite_from

    assert map_from("docker.io/library/python:3.11-slim@sha256:abc") == "claw-gym/python:3.11"
    assert map_from("ubuntu:24.04") == "claw-gym/base:bookworm"
    text, bases = rewrite_from("FROM python:3.11 AS build\nRUN true\nFROM build\n")
    assert text.splitlines()[0] == "FROM claw-gym/python:3.11 AS build" and text.splitlines()[2] == "FROM build"
    with pytest.raises(SandboxError, match="FROM alpine:3.19 cannot be built offline.*python:3.11-slim"):
        map_from("alpine:3.19")


@pytest.mark.parametrize("name,call", [("ptrace", "sleep 30 & " + _SYSCALL + " 101 16 $! 0 0"),
                                       ("io_uring", _SYSCALL + " 425 1 0")])
def test_our_seccomp_profile_is_what_refuses(name, call):
    """Docker's default profile allows these two; the profile generated from our policy refuses them."""
    out = {}
    for on in (True, False):
        with _sandbox(seccomp=on) as sb:
            out[on] = sb.exec(call).stdout.split()[-2:]
    assert out[True] == ["-1", "1"]
    assert out[False] != ["-1", "1"], f"{name}: refused even by Docker's default profile: {out[False]}"


def test_memory_limit_gives_memory_error():
    with _sandbox(memory="256m") as sb:
        r = sb.exec("python3 -c \"x = bytearray(512 * 1024**2); print('allocated')\"")
        assert "MemoryError" in r.stderr and "allocated" not in r.stdout
        assert sb.exec("python3 -c \"x = bytearray(64 * 1024**2); print('ok')\"").stdout == "ok\n"


def test_reader_recovers_from_a_stopped_or_killed_shell_keeping_files():
    with _sandbox() as sb:
        s = ShellSession(sb)
        s.run("cd /tmp && export KEEP=1 && echo data > /app/f")
        r = sb.exec("kill -STOP $PPID; sleep 31 & sleep 31", timeout=1)  # the reader stops: host deadline
        assert r.timed_out and r.exit_code == 124
        assert "sleep 31" not in sb.exec("ps -eo args").stdout  # the command's process group was killed too
        assert sb.exec("cat /app/f").stdout == "data\n"
        r = sb.exec("kill -KILL $PPID; sleep 1")
        assert r.exit_code == 137 and "reader" in r.stderr
        assert s.run("pwd; echo $KEEP; cat /app/f").stdout == "/tmp\n1\ndata\n"
        assert sb.exec("ps -eo comm | grep -c python3").stdout.strip() == "1"  # the old readers are gone


def test_reader_pipes_are_out_of_the_agents_reach():
    """The agent shares the reader's uid: it must still not reach the reader's pipes (forged replies), and
    read_file must not go through a helper process whose output pipe it could write to."""
    with _sandbox() as sb:
        r = sb.exec("ls /proc/$PPID/fd/ 2>&1; echo forged > /proc/$PPID/fd/1; echo rc=$?")
        assert "Permission denied" in r.output and "rc=0" not in r.stdout, r
        sb.write_file("/logs/reward.txt", "0\n")
        sb.exec("nohup bash -c 'while :; do for f in /proc/[0-9]*/fd/[12]; do echo 1 > $f; done 2>/dev/null; "
                "done' >/dev/null 2>&1 &")
        for _ in range(30):
            assert sb.read_file("/logs/reward.txt") == b"0\n"
        assert "clean\n" in sb.exec("echo clean").stdout  # (the writer does reach a command's own pipes)


def test_warm_pool_reset_and_labels():
    from claw_envs.sandbox.docker import drain_pools, owner_id

    drain_pools()  # earlier tests' pools (an equal configuration shares its pool) wait no more
    assert _containers(owner_id()) == []
    with _sandbox(pool=2) as sb:
        sb.reset()  # creates the pool; this claim was cold (the old container goes in the background)
        deadline = time.monotonic() + 60
        while len(_containers(owner_id())) != 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_containers(owner_id())) == 3  # the sandbox's own + 2 warm
        first = sb.container_id
        t0 = time.monotonic()
        sb.reset()
        took = time.monotonic() - t0
        assert sb.container_id != first and took < 0.5, took
        assert sb.exec("echo warm").stdout == "warm\n"
    drain_pools()
    assert _containers(owner_id()) == []


def test_failed_start_leaves_no_container(tmp_path):
    from claw_envs.sandbox.docker import owner_id
    from claw_envs.sandbox.images import build

    before = set(_containers(owner_id()))
    with pytest.raises(SandboxError, match="not built: run `claw images build`"):
        _sandbox(image="claw-gym/does-not-exist:1").start()
    # an image without python3: the container starts, its command reader cannot: the container is removed
    tag = build("FROM claw-gym/terminal:latest\nUSER root\nRUN rm -f /usr/bin/python3*\n", tmp_path,
                "claw-gym/test-no-python:latest")
    with pytest.raises(SandboxError, match="python3"):
        _sandbox(image=tag).start()
    assert set(_containers(owner_id())) == before


_HOLDER = """
import sys, time
import gymnasium as gym
import claw_envs  # noqa
env = gym.make("claw/Terminal-v0", backend="docker", task_ids=[sys.argv[1]])
env.reset(seed=0)
env.reset(seed=0)  # the second reset creates the warm pool
env.step("```bash\\necho hi > /app/x\\n```")
print("READY", flush=True)
time.sleep(600)
"""


def _descendants(pid: int) -> list[int]:
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                ppid = int(Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(p))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def test_killed_owner_leaves_no_container_after_the_next_start():
    from claw_envs.core.task import builtin_tasks_dir, load_tasks
    from claw_envs.sandbox.docker import owner_id

    task = load_tasks(builtin_tasks_dir("terminal"))[0].id
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, task], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline()
        assert line.strip() == "READY", holder.stderr.read()[-3000:] if holder.poll() is not None else line
        owner = owner_id(holder.pid)
        deadline = time.monotonic() + 60
        while len(_containers(owner)) < 3 and time.monotonic() < deadline:  # the episode's + 2 warm
            time.sleep(0.2)
        assert len(_containers(owner)) == 3
        # a crash as hard as it gets: the process and its docker clients all die at once, nothing runs atexit
        for pid in [holder.pid, *_descendants(holder.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    nxt = subprocess.run([sys.executable, "-c", "from claw_envs.sandbox.docker import DockerSandbox\n"
                          "sb = DockerSandbox(); sb.start(); sb.close()"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert nxt.returncode == 0, nxt.stderr[-2000:]
    assert _containers(owner) == []


def _bash(cmd: str) -> str:
    return f"```bash\n{cmd}\n```"


def test_terminal_env_on_docker_reset_step_oracle():
    from claw_envs.core.task import builtin_tasks_dir, load_tasks

    task = next(t for t in load_tasks(builtin_tasks_dir("terminal")) if t.solution)
    env = gym.make("claw/Terminal-v0", backend="docker", task_ids=[task.id])
    try:
        obs, info = env.reset(seed=0)
        assert info["backend"] == "docker"
        _, _, _, _, i = env.step(_bash("id -u; pwd"))
        assert i["next_state"].text.startswith("1000\n")
        _, r, te, _, info = env.step("submit")
        assert te and r < 1.0
        env.reset(seed=0)
        assert env.unwrapped.run_oracle().exit_code == 0
        _, r, te, _, info = env.step("submit")
        assert r == 1.0, json.dumps(info["outcome"])[:2000]
    finally:
        env.close()


def test_harbor_task_for_a_foreign_base_image_builds_and_validates():
    """FROM python:3.11-slim + RUN apt-get: built on the local python stand-in; oracle 1, doing nothing 0."""
    from claw_envs.terminal.validate import validate_task

    path = FIXTURES / "harbor-py-docker"
    env = gym.make("claw/Terminal-v0", backend="docker", tasks=str(path))
    try:
        obs, info = env.reset(seed=0)
        _, _, _, _, i = env.step(_bash("pwd; echo $REPORT_PATH; ls; ls -A /tests; python --version"))
        assert i["next_state"].text.startswith("/app\n/app/top.txt\nscores.csv\nPython 3.11"), i["next_state"].text
        v = validate_task(env.unwrapped, "harbor-py-docker")
        assert v.ok and v.oracle_score == 1.0 and v.null_score == 0.0, v
    finally:
        env.close()
    local = gym.make("claw/Terminal-v0", tasks=str(path))  # the local backend says which step it cannot do
    try:
        with pytest.raises(TaskError, match="apt-get.*docker backend"):
            local.reset(seed=0)
    finally:
        local.close()
