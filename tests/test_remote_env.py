"""``claw env-server`` driven by OpenEnv's own client (openenv-core) and by ``RemoteEnv``: real server
processes on 127.0.0.1, real sandboxes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import gymnasium as gym
import pytest

import claw_envs  # noqa: F401
from claw_envs.core.errors import RemoteError
from claw_envs.core.task import builtin_tasks_dir, load_tasks
from claw_envs.remote import RemoteEnv
from claw_envs.vector import ClawVectorEnv
from tests.conftest import needs_local

pytest.importorskip("fastapi", reason="the env server needs the [remote] extra (fastapi, uvicorn, websockets)")
pytest.importorskip("websockets", reason="RemoteEnv needs websockets (the [remote] extra)")

TERMINAL_TASK = "count-error-lines"
TOOL_TASK = "compound-interest-monthly"
TOOL_KWARGS = {"answer_tool": "final_answer", "max_steps": 2}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``claw env-server`` as a child process (the real CLI)."""

    def __init__(self, env_id: str, *args: str, port: int | None = None):
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = [sys.executable, "-m", "claw_envs.cli", "env-server", "--env", env_id, "--port", str(self.port),
                    *args]
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"env-server exited: {self.proc.stdout.read()}")
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1).read()
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError("env-server did not come up in 60 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture(scope="module")
def terminal_server():
    if needs_local.args[0]:
        pytest.skip(needs_local.kwargs["reason"])
    s = Server("claw/Terminal-v0", "--max-sessions", "3")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def tool_server():
    s = Server("claw/ToolCall-v0", "--kwargs", json.dumps(TOOL_KWARGS))
    yield s
    s.stop()


def _solution(task_id: str) -> str:
    return next(t for t in load_tasks(builtin_tasks_dir("terminal")) if t.id == task_id).solution


def test_openenv_client_runs_an_episode(terminal_server):
    from openenv.core.generic_client import GenericEnvClient

    with GenericEnvClient(base_url=terminal_server.url).sync() as client:
        r = client.reset(seed=0, task_id=TERMINAL_TASK)
        obs = r.observation
        assert r.done is False and obs["info"]["task_id"] == TERMINAL_TASK
        assert obs["messages"][0]["role"] == "user" and obs["next_state"] is None
        r = client.step({"text": "```bash\necho from-openenv; exit 3\n```"})
        ns = r.observation["next_state"]
        assert ns["role"] == "environment" and ns["kind"] == "terminal"
        assert "from-openenv" in ns["text"] and ns["exit_code"] == 3
        assert r.reward == 0.0 and r.done is False and r.observation["truncated"] is False
        client.step({"text": f"```bash\n{_solution(TERMINAL_TASK)}\n```"})
        r = client.step({"text": "submit"})
        assert r.done is True and r.reward == 1.0
        assert r.observation["terminated"] is True and r.observation["next_state"]["done_reason"] == "submitted"
        state = client.state()
        assert state["step_count"] == 3 and state["task_id"] == TERMINAL_TASK
        # protocol errors come back with OpenEnv's codes and leave the session usable
        with pytest.raises(RuntimeError, match="VALIDATION_ERROR"):
            client.step({"code": "ls"})
        assert client.reset(seed=1).observation["messages"]


def test_capacity_is_reported_with_openenv_code(terminal_server):
    from openenv.core.generic_client import GenericEnvClient

    envs = [RemoteEnv(terminal_server.url) for _ in range(3)]
    try:
        for e in envs:
            e.reset(seed=0)
        with GenericEnvClient(base_url=terminal_server.url).sync() as client:
            with pytest.raises(RuntimeError, match="CAPACITY_REACHED"):
                client.reset()
    finally:
        for e in envs:
            e.close()
    time.sleep(0.5)  # the server closes the sessions once it sees the disconnects
    with GenericEnvClient(base_url=terminal_server.url).sync() as client:
        assert client.reset(seed=0).observation["messages"]


def _episode(env, seed, options, actions):
    obs, info = env.reset(seed=seed, options=options)
    out = [(obs, info.get("task_id"))]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        ns = info["next_state"]
        out.append((obs, reward, terminated, truncated, ns.role, ns.kind, ns.text, ns.exit_code, ns.done_reason,
                    info.get("outcome")))
        if terminated or truncated:
            break
    return out


@needs_local
def test_remote_terminal_episode_identical_to_in_process(terminal_server):
    actions = ["```bash\npwd; echo hi >&2; printf 'a\\nb\\n' | wc -l\n```", "no code here",
               f"```bash\n{_solution(TERMINAL_TASK)}\n```", "submit"]
    local = gym.make("claw/Terminal-v0")
    remote = RemoteEnv(terminal_server.url)
    try:
        assert remote.observation_space == local.observation_space and remote.action_space == local.action_space
        a = _episode(local, 5, {"task_id": TERMINAL_TASK}, actions)
        b = _episode(remote, 5, {"task_id": TERMINAL_TASK}, actions)
        assert a == b and len(a) == 5 and a[-1][1] == 1.0
        # seeded task choice also matches
        assert local.reset(seed=11)[1]["task_id"] == remote.reset(seed=11)[1]["task_id"]
    finally:
        local.close()
        remote.close()


def test_remote_toolcall_episode_identical_to_in_process(tool_server):
    local = gym.make("claw/ToolCall-v0", **TOOL_KWARGS)
    remote = RemoteEnv(tool_server.url)
    try:
        local.reset(seed=0, options={"task_id": TOOL_TASK})
        gold = local.unwrapped.task.answer
        actions = ['<tool_call>{"name": "python", "arguments": {"code": "print(12500*(1+0.043/12)**12)"}}</tool_call>',
                   {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {
                       "name": "final_answer", "arguments": json.dumps({"answer": str(gold)})}}]}]
        a = _episode(local, 3, {"task_id": TOOL_TASK}, actions)
        b = _episode(remote, 3, {"task_id": TOOL_TASK}, actions)
        assert a == b and a[-1][1] == 1.0 and a[-1][2] is True
        # the tools the env offers travel too
        assert [t.schema() for t in remote.offered_tools()] == [t.schema() for t in local.unwrapped.offered_tools()]
    finally:
        local.close()
        remote.close()


def test_remote_env_through_trl_adapter(tool_server):
    from claw_envs.adapters.trl import environment_factory

    factory = environment_factory("claw_envs.remote:claw/Remote-v0", url=tool_server.url)
    env = factory()
    text = env.reset(task_id=TOOL_TASK)
    assert "interest" in text
    assert env.python(code="print(6*7)").strip() == "42"
    assert env.get_reward() == -1.0  # stopped without an answer: the server's env scores it (outcome_if_stopped)
    env._env.close()


def test_vector_prm_and_server_going_away():
    from claw_envs.prm.judge import Judge
    from claw_envs.prm.rules import RuleBackend
    from claw_envs.prm.wrapper import PRMReward

    server = Server("claw/ToolCall-v0")
    judge = Judge(RuleBackend(), m=1)
    vec = ClawVectorEnv([lambda: PRMReward(RemoteEnv(server.url, reconnect_attempts=2), judge)] * 2)
    try:
        first, infos = vec.reset(seed=[1, 1])
        assert first[0] == first[1] and infos["task_id"][0] == infos["task_id"][1]
        call = '<tool_call>{"name": "python", "arguments": {"code": "print(1/0)"}}</tool_call>'
        obs, rewards, terms, truncs, infos = vec.step([call, call])
        channels = infos["reward_channels"]
        assert list(channels["outcome"]) == [0.0, 0.0] and all(p is not None for p in channels["process"])
        assert "ZeroDivisionError" in infos["next_state"][0].text
        server.stop()
        obs, rewards, terms, truncs, infos = vec.step([call, call])
        assert truncs.all() and not terms.any()
        assert all("went away during an episode" in e for e in infos["error"])
        with pytest.raises(RemoteError, match="cannot reach the env server"):  # a clear error, not a hang
            RemoteEnv(f"http://127.0.0.1:{_free_port()}")
        with pytest.raises(RemoteError, match="could not reconnect"):
            vec.envs[0].reset(seed=1)
        server.start()  # back on the same port: the same RemoteEnv reconnects on reset
        assert vec.envs[0].reset(seed=1)[0] == first[0]
        obs, rewards, terms, truncs, infos = vec.step([call, call])  # slot 1 was replaced by the vector env
        assert not truncs.any()
    finally:
        vec.close()
        server.stop()


def test_token_http_endpoints_and_idle_ttl():
    server = Server("claw/ToolCall-v0", "--token", "s3cret", "--max-sessions", "1", "--idle-ttl", "1")
    try:
        assert json.loads(urllib.request.urlopen(server.url + "/health").read())["status"] == "healthy"
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(server.url + "/schema")
        auth = {"Authorization": "Bearer s3cret"}

        def call(path, body=None):
            req = urllib.request.Request(server.url + path, headers={**auth, "Content-Type": "application/json"},
                                         data=None if body is None else json.dumps(body).encode())
            return json.loads(urllib.request.urlopen(req).read())

        schema = call("/schema")
        assert set(schema) == {"action", "observation", "state"}
        assert {"next_state", "truncated", "reward_channels"} <= set(schema["observation"]["properties"])
        assert call("/metadata")["name"] == "claw/ToolCall-v0"
        r = call("/reset", {"seed": 2, "task_id": TOOL_TASK})
        assert r["observation"]["info"]["task_id"] == TOOL_TASK and r["done"] is False
        r = call("/step", {"action": {"text": '<tool_call>{"name": "python", "arguments": {"code": "print(5)"}}'
                                              '</tool_call>'}})
        assert r["observation"]["next_state"]["text"].strip() == "5"
        assert call("/state")["step_count"] == 1
        with pytest.raises(RemoteError, match="401"):
            RemoteEnv(server.url)
        with pytest.raises(RemoteError, match="refused"):
            bad = RemoteEnv(server.url, token="s3cret")
            bad.token = "wrong"
            bad.reset()
        time.sleep(2.5)  # the HTTP session idles past the TTL and is closed, freeing the only slot
        env = RemoteEnv(server.url, token="s3cret")
        env.reset(seed=0)
        second = RemoteEnv(server.url, token="s3cret")
        with pytest.raises(RemoteError, match="CAPACITY_REACHED"):
            second.reset(seed=0)
        time.sleep(2.5)  # now env's session idles out: its next step reports the lost episode
        with pytest.raises(RemoteError, match="went away during an episode"):
            env.step("hello")
        assert second.reset(seed=0)[0][0]["role"] == "user"
        second.close()
        env.close()
    finally:
        server.stop()


def _train_args(tmp_path, *extra):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return ["train", "--config", str(root / "configs" / "quickstart.yaml"), "--model.name", "tiny",
            "--model.cache_dir", str(tmp_path / "cache"), "--judge.backend", "rules", "--judge.hint", "rules",
            "--env.num_envs", "2", "--env.group_size", "2", "--train.max_new_tokens", "12", "--train.steps", "2",
            "--train.batch_size", "2", "--train.micro_batch_size", "2", "--train.output_dir", str(tmp_path / "run"),
            "--method.group_norm", "false", *extra]


@pytest.mark.slow
def test_claw_train_with_remote_hosting(tool_server, tmp_path):
    from claw_trainer.cli import main
    from claw_trainer.store import read_turns

    assert main(_train_args(tmp_path, "--env.hosting", "remote", "--env.remote_urls", f"[{tool_server.url}]",
                            "--env.kwargs", "{}")) == 0
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    turns = read_turns(tmp_path / "run")
    assert turns and all(t["turn"]["next_state"]["kind"] == "tool" for t in turns)
    # a config naming another env than the server's is refused with a clear error
    assert main(_train_args(tmp_path / "b", "--env.hosting", "remote", "--env.remote_urls", f"[{tool_server.url}]",
                            "--env.id", "claw/Terminal-v0")) == 2


def test_env_side_needs_no_trainer_and_claw_keeps_every_command():
    code = ("import sys, claw_envs.cli, claw_envs.remote, claw_envs.remote.server, claw_envs.ray, "
            "claw_envs.hosting; bad = [m for m in sys.modules if m.startswith('claw_trainer')]; "
            "assert not bad, bad; sys.exit(claw_envs.cli.main(['envs']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "claw/Terminal-v0" in r.stdout, r.stderr
    from claw_envs import cli as env_cli
    from claw_trainer.cli import build_parser

    trainer_cmds = set(build_parser()._subparsers._group_actions[0].choices)
    assert set(env_cli.build_parser()._subparsers._group_actions[0].choices) <= trainer_cmds
    assert {"env-server", "train", "demo", "judge-eval", "tasks", "envs"} <= trainer_cmds


def test_external_subcommand_is_one_registry_line(monkeypatch, capsys):
    import types

    from claw_envs import cli as env_cli
    from claw_trainer.cli import main

    module = types.ModuleType("claw_fake_check")
    module.main = lambda argv: print("checked", argv) or 7
    monkeypatch.setitem(sys.modules, "claw_fake_check", module)
    monkeypatch.setitem(env_cli.EXTERNAL, ("gui", "check"), ("claw_fake_check:main", "check the GUI stack"))
    assert main(["gui", "check", "--display", ":9"]) == 7
    assert "checked ['--display', ':9']" in capsys.readouterr().out
    assert env_cli.main(["gui", "check"]) == 7


def test_wire_carries_images_as_base64_blocks_and_round_trips():
    import base64
    import zlib

    from claw_envs.core.nextstate import NextState
    from claw_envs.remote import wire

    raw = b"\x00\xff\x00\x00" * 4  # a real 2x2 RGBA PNG, built by hand
    def chunk(kind, data):
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", (2).to_bytes(4, "big") * 2 + bytes([8, 6, 0, 0, 0]))
           + chunk(b"IDAT", zlib.compress(b"\x00" + raw[:8] + b"\x00" + raw[8:])) + chunk(b"IEND", b""))
    ns = NextState(role="environment", kind="gui", text="clicked", image=png, payload={"shots": [png], "n": 1})
    obs = [{"role": "user", "content": "look", "image": png}]
    payload = json.loads(json.dumps(wire.step_payload(obs, 1.0, True, False, {"next_state": ns, "step": 3})))
    block = payload["observation"]["messages"][0]["image"]
    assert block["type"] == "image" and block["source"]["media_type"] == "image/png"
    assert base64.b64decode(block["source"]["data"]) == png
    back_obs, reward, terminated, truncated, info = wire.parse_payload(payload)
    assert back_obs == obs and info["next_state"] == ns and (reward, terminated, truncated) == (1.0, True, False)
    assert info["step"] == 3 and "reward_channels" not in info
    with pytest.raises(ValueError, match="text"):
        wire.action_from_wire({"code": "ls"})
