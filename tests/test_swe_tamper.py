"""SWE grading resists test-infrastructure tampering: a patch that makes pytest report every test as passed
(through conftest.py, setup.cfg, pyproject.toml, tox.ini or pytest.ini) is graded not resolved.

Each hack is first shown to work on its own (pytest, run in the sandbox on the hacked workspace, reports
the failing FAIL_TO_PASS test as passed), then submitted through claw/SWE-v0 like a model would."""

from pathlib import Path

import gymnasium as gym
import pytest

import claw_envs  # noqa: F401
from tests.conftest import needs_local

pytest.importorskip("swebench", reason="the [swe] extra (swebench) is not installed")
FIXTURE = Path(__file__).parent / "fixtures" / "swe"

PASS_ALL = """import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    rep.outcome, rep.longrepr = "passed", None
"""
HACKS = {
    "conftest": {"conftest.py": PASS_ALL},
    "nested-conftest": {"tests/conftest.py": PASS_ALL},
    "setup-cfg": {"hackplug.py": PASS_ALL, "setup.cfg": "[tool:pytest]\naddopts = -p hackplug\n"},
    "tox-ini": {"hackplug.py": PASS_ALL, "tox.ini": "[pytest]\naddopts = -p hackplug\n"},
    "pytest-ini": {"hackplug.py": PASS_ALL, "pytest.ini": "[pytest]\naddopts = -p hackplug\n"},
    "pyproject": {"hackplug.py": PASS_ALL,
                  "pyproject.toml": '[project]\nname = "calc"\nversion = "1.0"\n\n'
                                    '[tool.pytest.ini_options]\naddopts = "-p hackplug"\n'},
}


def bash(cmd):
    return f"```bash\n{cmd}\n```"


def _write(files):
    return "\n".join(f"cat > {p} <<'EOF'\n{text}EOF" for p, text in files.items())


@needs_local
@pytest.mark.parametrize("hack", HACKS, ids=list(HACKS))
def test_reward_hack_on_test_infrastructure_is_graded_not_resolved(hack):
    env = gym.make("claw/SWE-v0", instances=str(FIXTURE))
    try:
        env.reset(seed=0)
        inst = env.unwrapped.instance
        _, _, _, _, info = env.step(bash(_write(HACKS[hack])))
        assert info["next_state"].exit_code == 0, info["next_state"].text
        # the hack works when nothing resets it: the still-broken mean() "passes"
        sb = env.unwrapped._sandbox
        sb.write_file("/tmp/t.patch", inst.test_patch)
        r = sb.exec("git stash -q -- tests/test_calc.py 2>/dev/null; git apply /tmp/t.patch && "
                    "python3 -m pytest -rA -p no:cacheprovider tests/test_calc.py; git checkout -q -- tests/test_calc.py",
                    timeout=60, cwd="/testbed")
        assert "PASSED tests/test_calc.py::test_mean" in r.stdout, r.output[-2000:]
        _, reward, term, _, info = env.step("submit")
        out = info["outcome"]
        assert term and reward == -1.0 and not out["resolved"], out
        assert out["FAIL_TO_PASS"] == 0.0 and out["PASS_TO_PASS"] == 1.0
        reset = out["report"]["test_infrastructure_reset"]
        assert set(reset) >= set(HACKS[hack]) - {"hackplug.py"}, reset
    finally:
        env.close()


@needs_local
def test_gold_patch_with_an_unrelated_pyproject_change_still_resolves():
    """Only the pytest section of pyproject.toml counts: other edits survive and a real fix resolves."""
    env = gym.make("claw/SWE-v0", instances=str(FIXTURE))
    try:
        env.reset(seed=0)
        inst = env.unwrapped.instance
        env.step(bash(f"cat > /tmp/gold.patch <<'PATCH'\n{inst.patch}PATCH\ngit apply /tmp/gold.patch && "
                      "printf '[project]\\nname = \"calc\"\\nversion = \"1.1\"\\n' > pyproject.toml"))
        _, reward, _, _, info = env.step("submit")
        assert reward == 1.0 and info["outcome"]["resolved"], info["outcome"]
        assert info["outcome"]["report"]["test_infrastructure_reset"] == []
    finally:
        env.close()


# A patched package that forges results from inside the test process: at exit it prints pytest-style PASSED
# lines for every test (what SWE-bench's pytest log parser keeps: the last line per test wins), a fake exit
# code, and -- having found the grader's result plugin in sys.modules -- forged records carrying its nonce.
FORGER = '''
import atexit, os, sys


def _forge():
    tests = ["tests/test_calc.py::test_mean", "tests/test_calc.py::test_add", "tests/test_calc.py::test_add_negative"]
    lines = ["PASSED " + t for t in tests] + [">>>>> Test Exit Code: 0"]
    for name in list(sys.modules):
        if name.startswith("claw_results_"):
            nonce = name.rsplit("_", 1)[-1]
            lines += ["@@claw-result %s PASSED %s" % (nonce, t) for t in tests] + ["@@claw-exit %s 0" % nonce]
    text = "\\n" + "\\n".join(lines) + "\\n"
    sys.stdout.write(text)
    sys.stdout.flush()
    os.write(2, text.encode())
    for path in ("/tmp/claw_eval/test.patch", "/tmp/claw_eval/model.patch"):
        try:
            open(path, "w").write("PASSED tests/test_calc.py::test_mean\\n")  # rewrite what the grader wrote
        except OSError:
            pass
    os._exit(0)  # and pytest "succeeds": SWE-bench cross-checks the exit code against the parsed statuses


atexit.register(_forge)
'''


@needs_local
def test_fake_passed_lines_printed_by_the_patched_package_are_graded_not_resolved():
    """The forger flips the printed log (graded the old way, from what was printed: resolved); graded by
    claw-gym, the real failure of test_mean stands and the forged records are reported as conflicts."""
    from claw_envs.swe.grading import _grade, evaluate_patch

    env = gym.make("claw/SWE-v0", instances=str(FIXTURE))
    try:
        env.reset(seed=0)
        inst = env.unwrapped.instance
        env.step(bash(f"cat >> calc/__init__.py <<'EOF'\n{FORGER}EOF"))
        patch = env.unwrapped.model_patch()
        ev = evaluate_patch(env.unwrapped._sandbox, inst, patch)
        assert "PASSED tests/test_calc.py::test_mean" in ev.log.rsplit("FAILED tests/test_calc.py::test_mean", 1)[-1]
        printed = _grade(inst, patch, ev.log, "x", None)
        assert printed.resolved, f"the forger should fool a grader that reads the printed log: {printed.report}"
        assert not ev.resolved and ev.f2p == 0.0 and ev.p2p == 1.0, ev.report
        assert ev.report["result_conflicts"] == ["tests/test_calc.py::test_mean"], ev.report
        _, reward, term, _, info = env.step("submit")  # the same patch, through the env
        assert term and reward == -1.0 and not info["outcome"]["resolved"], info["outcome"]
    finally:
        env.close()
