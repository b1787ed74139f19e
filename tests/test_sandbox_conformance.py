"""The conformance suite every sandbox backend passes (local always; docker where an engine answers: its image
is built by the session fixture ``docker_image``)."""

import time

import pytest

from claw_envs.core.errors import SandboxError
from claw_envs.sandbox import SandboxConfig, ShellSession, make_sandbox
from tests.docker_support import docker_image, use_backend  # noqa: F401  (docker_image: a fixture)


@pytest.fixture(params=["local", "docker"])
def sandbox(request):
    use_backend(request, request.param)
    sb = make_sandbox(request.param, SandboxConfig(timeout=10, output_limit=4096))
    sb.start()
    yield sb
    sb.close()


def test_exec_captures_streams_and_exit_code(sandbox):
    r = sandbox.exec("echo out; echo err >&2; exit 3")
    assert (r.stdout, r.stderr, r.exit_code, r.timed_out, r.truncated) == ("out\n", "err\n", 3, False, False)
    assert r.output == "out\nerr\n"


def test_workdir_and_cwd(sandbox):
    assert sandbox.exec("pwd").stdout == "/app\n"
    assert sandbox.exec("pwd", cwd="/tmp").stdout == "/tmp\n"
    r = sandbox.exec("pwd", cwd="/does/not/exist")
    assert r.exit_code != 0 and "no such directory" in r.stderr.lower()


def test_env_and_stdin(sandbox):
    assert sandbox.exec("echo $GREETING", env={"GREETING": "hé"}).stdout == "hé\n"
    assert sandbox.exec("wc -c", stdin=b"12345").stdout.strip() == "5"


def test_timeout_kills_the_whole_process_group(sandbox):
    r = sandbox.exec("sleep 30 & sleep 30; echo never", timeout=1)
    assert r.timed_out and r.exit_code == 124 and "never" not in r.stdout
    # the backend's own idle process may be a sleep; the command's two are gone (killed processes are reaped
    # asynchronously by the sandbox's init: allow it a moment on a loaded machine)
    for _ in range(30):
        ps = sandbox.exec("ps -eo stat=,comm= | grep -v '^Z' | grep -c ' sleep$' || true").stdout.strip()
        if ps in ("0", "1"):
            break
        time.sleep(0.1)
    assert ps in ("0", "1"), sandbox.exec("ps -eo pid,stat,args").stdout


def test_output_cap_sets_truncated(sandbox):
    r = sandbox.exec("head -c 100000 /dev/zero | tr '\\0' a; echo; echo tail >&2")
    assert r.truncated and len(r.stdout) == 4096 and r.stderr == "tail\n" and r.exit_code == 0


def test_files_roundtrip_binary_and_modes(sandbox):
    data = bytes(range(256)) * 10
    sandbox.write_file("/app/deep/dir/blob.bin", data)
    assert sandbox.read_file("/app/deep/dir/blob.bin") == data
    sandbox.write_file("/app/run.sh", "#!/bin/sh\necho ran\n", mode=0o755)
    assert sandbox.exec("./run.sh").stdout == "ran\n"
    with pytest.raises(SandboxError, match="could not read"):
        sandbox.read_file("/app/missing")
    with pytest.raises(SandboxError, match="could not write"):
        sandbox.write_file("/usr/evil", "x")


def test_reset_wipes_files_and_processes(sandbox):
    sandbox.write_file("/app/keep", "x")
    sandbox.exec("nohup sleep 300 >/dev/null 2>&1 &")
    sandbox.reset()
    assert sandbox.exec("ls -A /app").stdout == ""
    assert "sleep 300" not in sandbox.exec("ps -eo args").stdout


def test_closed_sandbox_raises_clear_error(sandbox):
    sandbox.close()
    sandbox.close()  # idempotent
    with pytest.raises(SandboxError, match="start"):
        sandbox.exec("true")


def test_no_network(sandbox):
    r = sandbox.exec("(echo > /dev/tcp/1.1.1.1/80) 2>&1; python3 -c \"import socket; socket.create_connection(('1.1.1.1', 80), 2)\" 2>&1 | tail -1")
    assert "unreachable" in r.stdout.lower() or "error" in r.stdout.lower()


def test_root_is_read_only(sandbox):
    r = sandbox.exec("touch /usr/x /etc/x /x 2>&1; echo rc=$?")
    assert r.stdout.count("Read-only file system") == 3 or "Permission denied" in r.stdout


def test_shell_session_persists_cwd_and_exports(sandbox):
    s = ShellSession(sandbox)
    assert s.run("mkdir -p /tmp/w && cd /tmp/w && export FOO='a b' && BAR=1").ok
    assert s.run("pwd; echo \"$FOO\"").stdout == "/tmp/w\na b\n"
    assert s.run("exit 7").exit_code == 7
    assert s.run("pwd").stdout == "/tmp/w\n"  # state saved even on exit
    assert s.run("cd / && sleep 20", timeout=1).timed_out
    assert s.run("pwd").stdout == "/tmp/w\n"  # a killed command keeps the earlier state
