"""OpenEnv's own client reaches a ``claw env-server --token`` through the token-in-path WebSocket URL."""

import pytest

from tests.conftest import needs_local
from tests.test_remote_env import Server

pytest.importorskip("openenv", reason="the [remote] extra (openenv-core) is not installed")
pytestmark = needs_local


def test_generic_env_client_with_a_token():
    from openenv.core.generic_client import GenericEnvClient

    server = Server("claw/ToolCall-v0", "--token", "s3cret")
    try:
        with GenericEnvClient(base_url=f"{server.url}/t/s3cret").sync() as client:
            r = client.reset(seed=0)
            assert r.observation["messages"][0]["role"] == "user" and r.done is False
            r = client.step({"text": '<tool_call>{"name": "python", "arguments": {"code": "print(6*7)"}}</tool_call>'})
            assert r.observation["next_state"]["text"].strip() == "42"
        for base in (server.url, f"{server.url}/t/wrong"):  # no token, a wrong one: refused
            with pytest.raises(ConnectionError, match="403|1008|rejected"), \
                    GenericEnvClient(base_url=base).sync() as client:
                client.reset(seed=0)
    finally:
        server.stop()
