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
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"env": {"remote_token": SECRET}, "model": {"name": "tiny"}}))
    (run / "turns.jsonl").write_text("")
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
