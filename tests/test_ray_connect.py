"""``connect("auto")`` without a running Ray cluster is a clear ``RemoteError`` saying how to start one."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("ray", reason="the [ray] extra is not installed")


def test_connect_auto_without_a_cluster_says_what_to_do(tmp_path):
    # a fresh Ray temp dir: no cluster address file, so "auto" finds nothing (other clusters on the machine
    # are invisible to it); a subprocess keeps Ray's global state out of this test process
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = str(tmp_path)
    code = ("from claw_envs.ray import connect\n"
            "try:\n    connect('auto')\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("RemoteError") and "ray start --head" in r.stdout and "connect()" in r.stdout, r.stdout
