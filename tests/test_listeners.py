"""Safe listener defaults (claw_envs.core.netguard) and `claw view` over real HTTP on 127.0.0.1: a foreign
Host is refused (DNS rebinding), a non-loopback bind needs a token, the token is enforced, and the run's
secrets are never served."""

import http.client
import json
import os

import pytest

from claw_envs.core.errors import ConfigError
from claw_envs.core.netguard import (
    REDACTED,
    allowed_hosts,
    check_bind,
    host_allowed,
    is_loopback,
    origin_allowed,
    read_secret,
    redact,
)

SECRET = "s3cr3t-remote-token-9f8e7d"


def test_netguard_rules():
    assert is_loopback("127.0.0.1") and is_loopback("127.8.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.com")
    check_bind("127.0.0.1", authenticated=False)
    check_bind("0.0.0.0", authenticated=True)
    with pytest.raises(ConfigError, match="no authentication"):
        check_bind("0.0.0.0", authenticated=False)
    check_bind("0.0.0.0", authenticated=False, insecure=True)
    allowed = allowed_hosts("127.0.0.1")
    assert host_allowed("127.0.0.1:8765", allowed) and host_allowed("localhost", allowed)
    assert host_allowed("[::1]:80", allowed)
    assert not host_allowed("evil.example:8765", allowed) and not host_allowed(None, allowed)
    assert not host_allowed("127.0.0.1.evil.example", allowed)
    assert origin_allowed(None, allowed) and origin_allowed("http://localhost:3000", allowed)
    assert not origin_allowed("https://evil.example", allowed) and not origin_allowed("null", allowed)
    tree = {"env": {"remote_token": SECRET, "kwargs": {"api_key": "k", "max_steps": 3}},
            "judge": {"api_key": ""}, "keys": [{"password": "p"}], "model": {"name": "tiny"}}
    red = redact(tree)
    assert SECRET not in json.dumps(red) and red["env"]["remote_token"] == REDACTED
    assert red["env"]["kwargs"] == {"api_key": REDACTED, "max_steps": 3} and red["judge"]["api_key"] == ""
    assert red["keys"] == [{"password": REDACTED}] and red["model"] == {"name": "tiny"}


def test_read_secret_from_file_or_env(tmp_path, monkeypatch):
    f = tmp_path / "tok"
    f.write_text("abc123\n")
    f.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_secret(file=str(f))
    f.chmod(0o600)
    assert read_secret("CLAW_TEST_TOKEN_X", str(f)) == "abc123"
    monkeypatch.setenv("CLAW_TEST_TOKEN_X", "from-env")
    assert read_secret("CLAW_TEST_TOKEN_X") == "from-env"
    with pytest.raises(ConfigError, match="cannot read"):
        read_secret(file=str(tmp_path / "missing"))


@pytest.fixture
def run_root(tmp_path):
    pytest.importorskip("torch", reason="claw view needs the [train] extra")
    from claw_trainer.store import TurnStore

    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"env": {"remote_token": SECRET}, "model": {"name": "tiny"}}))
    TurnStore(run / "turns.sqlite").close()  # an empty run
    return tmp_path / "runs"


def _request(server, path, host=None, headers=None):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host or f"127.0.0.1:{server.port}")
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read().decode(), dict(r.getheaders())
    finally:
        conn.close()


def test_view_refuses_foreign_host_and_never_serves_secrets(run_root):
    from claw_trainer.view.runs import discover
    from claw_trainer.view.server import ViewServer

    with ViewServer(discover([run_root])) as s:
        code, body, _ = _request(s, "/api/run?run=r1", host="attacker.example")
        assert code == 403 and "not this server" in body
        bodies = []
        for path in ("/", "/api/runs", "/api/run?run=r1", "/api/turns?run=r1"):
            code, body, _ = _request(s, path)
            assert code == 200, (path, body)
            bodies.append(body)
        assert json.loads(bodies[2])["config"]["env"]["remote_token"] == REDACTED
        assert all(SECRET not in b for b in bodies)


def test_view_beyond_loopback_needs_a_token_and_checks_it(run_root):
    from claw_trainer.view.runs import discover
    from claw_trainer.view.server import ViewServer

    runs = discover([run_root])
    with pytest.raises(ConfigError, match="no authentication"):
        ViewServer(runs, host="0.0.0.0")
    token = os.urandom(12).hex()
    with ViewServer(runs, host="127.0.0.1", token=token) as s:
        assert _request(s, "/api/runs")[0] == 401
        assert _request(s, "/api/runs", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert _request(s, "/api/runs", headers={"Authorization": f"Bearer {token}"})[0] == 200
        code, _, headers = _request(s, f"/?token={token}")
        cookie = headers.get("Set-Cookie", "")
        assert code == 200 and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert _request(s, "/api/runs", headers={"Cookie": cookie.split(";")[0]})[0] == 200


# -- claw serve, serve-model and env-server over real HTTP/WebSocket on 127.0.0.1 ------------------------------


def _serve_cfg(tmp_path, name):
    from claw_trainer.config import load_config

    return load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"),
                              "--train.max_new_tokens", "4", "--train.output_dir", str(tmp_path / name)])


def _post(port, path, body, host=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        data = json.dumps(body).encode()
        conn.putrequest("POST", path, skip_host=True)
        conn.putheader("Host", host or f"127.0.0.1:{port}")
        conn.putheader("Content-Type", "text/plain")  # what a cross-site form/fetch can send without preflight
        conn.putheader("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders(data)
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def test_claw_serve_refuses_exposure_foreign_hosts_and_origins(tmp_path):
    pytest.importorskip("fastapi", reason="claw serve needs the [serve] extra")
    pytest.importorskip("torch", reason="claw serve needs the [train] extra")
    from claw_trainer.serving.stack import ServeStack

    with pytest.raises(ConfigError, match="no authentication"):
        ServeStack(_serve_cfg(tmp_path, "exposed"), host="0.0.0.0")
    keys = tmp_path / "keys.txt"
    keys.write_text("alice sk-alice-1\n")
    with ServeStack(_serve_cfg(tmp_path, "guarded"), api_keys_file=str(keys)) as s:
        chat = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        auth = {"Authorization": "Bearer sk-alice-1"}
        code, body = _post(s.port, "/v1/chat/completions", chat, host="rebound.example", headers=auth)
        assert code == 403 and "forbidden_host" in body
        code, body = _post(s.port, "/v1/chat/completions", chat, headers={**auth, "Origin": "https://evil.example"})
        assert code == 403 and "Origin" in body
        assert _post(s.port, "/v1/chat/completions", chat, headers=auth)[0] == 200
        status, body, _ = _request(s, "/health")
        assert status == 200 and json.loads(body) == {"status": "ok"}  # public but minimal without a key
        status, body, _ = _request(s, "/health", headers=auth)
        assert status == 200 and "policy_version" in json.loads(body)


def test_serve_model_and_env_server_refuse_a_non_loopback_bind_without_auth():
    import subprocess
    import sys

    for cmd in (["claw_trainer.cli", "serve-model", "--model", "tiny", "--host", "0.0.0.0"],
                ["claw_envs.cli", "env-server", "--host", "0.0.0.0"]):
        r = subprocess.run([sys.executable, "-m", *cmd], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "CLAW_ENV_TOKEN": ""})
        assert r.returncode != 0 and "no authentication" in r.stdout + r.stderr, (cmd, r.stdout, r.stderr)


def test_env_server_refuses_foreign_origin_websockets_and_hosts(tmp_path):
    pytest.importorskip("fastapi", reason="claw env-server needs the [remote] extra")
    websockets = pytest.importorskip("websockets", reason="the [remote] extra")
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "claw_envs.cli", "env-server", "--env", "claw/ToolCall-v0",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "env-server did not come up"
                time.sleep(0.2)
        from websockets.sync.client import connect

        with pytest.raises(websockets.exceptions.InvalidStatus) as e:
            connect(f"ws://127.0.0.1:{port}/ws", origin="https://evil.example", open_timeout=30)
        assert e.value.response.status_code == 403
        with connect(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}", open_timeout=30):
            pass  # a page served by the server itself (and non-browser clients, without Origin) connect
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.putrequest("GET", "/health", skip_host=True)
        conn.putheader("Host", "rebound.example")
        conn.endheaders()
        assert conn.getresponse().status == 403
        conn.close()
    finally:
        proc.kill()
        proc.wait(10)


def test_run_folder_config_never_holds_a_secret(tmp_path):
    pytest.importorskip("torch", reason="the [train] extra")
    from claw_trainer.config import load_config
    from claw_trainer.run import write_run_config

    cfg = load_config(None, ["--env.remote_token", SECRET, "--train.output_dir", str(tmp_path)])
    path = write_run_config(tmp_path, cfg)
    saved = json.loads(path.read_text())
    assert saved["env"]["remote_token"] == REDACTED and saved["model"]["name"] == cfg.model.name
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and SECRET in p.read_text(errors="replace")]
