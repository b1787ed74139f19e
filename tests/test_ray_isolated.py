"""The Ray hosting suites (tests/test_ray_hosting.py, tests/test_ray_placement.py) in a fresh interpreter.

See ``RAY_MODULES`` in tests/conftest.py for why: Ray's in-process gRPC client can hang in a long-lived test
process. Every test of those modules must pass in the child; none may skip."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RAY_MODULES

pytest.importorskip("ray", reason="Ray hosting needs the [ray] extra (pip install ray)")
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(1500)
def test_ray_suites_pass_in_their_own_interpreter():
    env = {**os.environ, "CLAW_RAY_CHILD": "1"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider",
                        *(f"tests/{m}" for m in RAY_MODULES)], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=1400)
    tail = (r.stdout + r.stderr)[-4000:]
    assert r.returncode == 0, tail
    summary = r.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 6 and "skipped" not in summary and "failed" not in summary, tail
