"""``claw swe build`` on real code: a real fix commit of a real project (inflection's e32443b, recreated in a git
repository the test makes from the project's files), a real PyPI sdist with bug synthesis, the real bubblewrap
sandbox and SWE-bench's grading. Every built instance is graded +1 with its gold patch and -1 with the empty
patch, and the reward hacks of test_swe_tamper.py do not pay on a built instance."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import gymnasium as gym
import pytest

import claw_envs  # noqa: F401
from claw_envs.core.errors import TaskError
from claw_envs.swe.build.cli import main as build_main
from claw_envs.swe.build.mutate import OPERATORS, mutations
from tests.conftest import needs_local
from tests.test_swe_rewrite import Scripted
from tests.test_swe_tamper import HACKS, _write

pytest.importorskip("swebench", reason="the [swe] extra (swebench) is not installed")
FIX = Path(__file__).parent / "fixtures" / "swe-build" / "inflection"
PYPI_PACKAGE = "inflection==0.5.1"  # pure Python, 443 parametrized pytest tests in ~3 s


def bash(cmd):
    return f"```bash\n{cmd}\n```"


def _git(cwd, *args, env=None):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}).stdout.strip()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("swe-cache")


@pytest.fixture(scope="module")
def fix_repo(tmp_path_factory):
    """inflection at 1969b3a (its files, author and message) with the real fix e32443b applied by ``git am``."""
    repo = tmp_path_factory.mktemp("inflection") / "inflection"
    subprocess.run(["cp", "-r", str(FIX / "base"), str(repo)], check=True)
    name, email, date, *msg = (FIX / "base-commit.txt").read_text().splitlines()
    who = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date,
           "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": date}
    _git(repo, "init", "-q", "-b", "master")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "\n".join(msg), env=who)
    _git(repo, "-c", "user.name=claw", "-c", "user.email=claw@invalid", "am", "-q",
         str(FIX / "e32443b-fix-titleize.patch"))
    return repo


@pytest.fixture(scope="module")
def fix_dataset(fix_repo, cache, tmp_path_factory):
    if not _local_ok():
        pytest.skip("local sandbox unavailable")
    out = tmp_path_factory.mktemp("fix-out")
    rc = build_main(["--repo", str(fix_repo), "--fix-commit", "HEAD", "--out", str(out), "--cache-dir", str(cache)])
    assert rc == 0
    return out


def _local_ok() -> bool:
    from tests.conftest import _LOCAL_REASON

    return _LOCAL_REASON is None


def _pypi_unreachable() -> str | None:
    try:
        with urllib.request.urlopen("https://pypi.org/pypi/inflection/json", timeout=20) as r:
            json.load(r)
    except Exception as e:  # noqa: BLE001
        return f"PyPI cannot be reached from here ({e})"
    return None


def test_mutation_operators_on_real_code_parse_and_invert():
    text = (FIX / "base" / "inflection.py").read_text()
    muts = list(mutations("inflection.py", text))
    assert {m.operator for m in muts} >= set(OPERATORS) - {"swap_branches", "off_by_one"}, {m.operator for m in muts}
    original = ast.dump(ast.parse(text))
    for m in muts:
        assert ast.dump(ast.parse(m.text)) != original
        fix = m.fix_patch(text)
        assert fix.startswith("diff --git a/inflection.py b/inflection.py\n")
        # the fix is the exact inverse: only the mutated lines change
        assert sum(ln.startswith("-") and not ln.startswith("---") for ln in fix.splitlines()) <= \
            len(m.text.splitlines()) - len(text.splitlines()) + 40
    swap = [m for m in mutations("x.py", "def f(a):\n    if a:\n        x = 1\n    else:\n        x = 2\n"
                                         "    return x[1:n]\n")]
    assert {m.operator for m in swap} >= {"swap_branches", "off_by_one", "negate_condition", "constant"}


def test_fix_commit_errors_say_what_to_pass(fix_repo, cache, tmp_path):
    from claw_envs.swe.build.fixcommit import split_fix

    with pytest.raises(TaskError, match="not a git repository"):
        split_fix(FIX / "base", "HEAD")
    with pytest.raises(TaskError, match="no such commit"):
        split_fix(fix_repo, "deadbeef")
    with pytest.raises(TaskError, match="root commit"):
        split_fix(fix_repo, "HEAD~1")
    # a commit that only touches tests is not a fix
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(fix_repo), str(clone))
    (clone / "test_inflection.py").write_text((clone / "test_inflection.py").read_text() + "\n# more\n")
    _git(clone, "-c", "user.name=c", "-c", "user.email=c@c", "commit", "-qam", "tests only")
    with pytest.raises(TaskError, match="only test files"):
        split_fix(clone, "HEAD")
    with pytest.raises(SystemExit):  # neither --fix-commit nor --synthesize: argparse says what to give
        build_main(["--repo", str(clone), "--out", str(tmp_path / "o")])


@needs_local
def test_fix_commit_instance_real_base_gold_empty_and_hacks(fix_repo, fix_dataset):
    (row,) = [json.loads(ln) for ln in (fix_dataset / "instances.jsonl").read_text().splitlines()]
    parent = _git(fix_repo, "rev-parse", "HEAD~1")
    assert row["base_commit"] == parent  # the real parent, not a made-up commit
    assert row["instance_id"].startswith("inflection__inflection-")
    files = {p: re.findall(r"^\+\+\+ b/(\S+)$", row[p], re.M) for p in ("patch", "test_patch")}
    assert files == {"patch": ["inflection.py"], "test_patch": ["test_inflection.py"]}
    assert row["FAIL_TO_PASS"] and all(t.startswith("test_inflection.py::test_titleize[") for t in row["FAIL_TO_PASS"])
    assert len(row["PASS_TO_PASS"]) > 400 and row["claw_meta"]["kind"] == "fix_commit"
    added = [ln[1:].strip() for ln in row["patch"].splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    assert "titleize" in row["problem_statement"] and not any(a and a in row["problem_statement"] for a in added)
    report = json.loads((fix_dataset / "report.json").read_text())
    assert report["total"]["kept"] == 1

    env = gym.make("claw/SWE-v0", tasks=str(fix_dataset / "instances.jsonl"))
    try:
        obs, info = env.reset(seed=0)
        assert info["base_commit"] == parent and "titleize" in obs[0]["content"]
        _, _, _, _, i = env.step(bash("git log --format=%s | head -3; git status --short | wc -l"))
        assert i["next_state"].text.startswith('Fixed "passerby"'), i["next_state"].text
        inst = env.unwrapped.instance
        env.step(bash(f"cat > /tmp/gold.patch <<'PATCH'\n{inst.patch}PATCH\ngit apply /tmp/gold.patch"))
        _, r, term, _, info = env.step("submit")
        assert term and r == 1.0 and info["outcome"]["status"] == "resolved", info["outcome"]
        env.reset(seed=0)
        _, r, _, _, info = env.step("submit")
        assert r == -1.0 and info["outcome"]["FAIL_TO_PASS"] == 0.0 and info["outcome"]["PASS_TO_PASS"] == 1.0
    finally:
        env.close()


@needs_local
@pytest.mark.parametrize("hack", list(HACKS))
def test_tamper_hacks_do_not_pay_on_a_built_instance(fix_dataset, hack):
    """test_swe_tamper's hacks, on the built instance of a real project (whose base has no pyproject.toml: the
    one the hack adds is deleted by grading)."""
    files = HACKS[hack]
    env = gym.make("claw/SWE-v0", tasks=str(fix_dataset / "instances.jsonl"))
    try:
        env.reset(seed=0)
        dirs = " ".join(sorted({str(Path(f).parent) for f in files}))
        _, _, _, _, i = env.step(bash(f"mkdir -p {dirs}\n" + _write(files)))
        assert i["next_state"].exit_code == 0, i["next_state"].text
        _, r, _, _, info = env.step("submit")
        assert r == -1.0 and not info["outcome"]["resolved"], info["outcome"]
        assert set(info["outcome"]["report"]["test_infrastructure_reset"]) >= set(files) - {"hackplug.py"}
    finally:
        env.close()


@needs_local
def test_pypi_sdist_synthesized_instances_validate(cache, tmp_path):
    why = _pypi_unreachable()
    if why:
        pytest.skip(why)

    out = tmp_path / "out"
    # statements rewritten by a (scripted) model behind an OpenAI-compatible server, as --rewrite-statement does
    llm = Scripted(lambda prompt: "Reported by a user of inflection.\n\n" + prompt.split("---\n", 1)[1])
    argv = ["--pypi", PYPI_PACKAGE, "--synthesize", "2", "--out", str(out), "--cache-dir", str(cache),
            "--rewrite-statement", llm.url + "/scripted"]
    with llm:
        assert build_main(argv) == 0
    assert len(llm.requests) == 2  # one per kept instance
    rows = [json.loads(ln) for ln in (out / "instances.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and len({r["instance_id"] for r in rows}) == 2
    report = json.loads((out / "report.json").read_text())
    (src,) = report["sources"]
    assert src["kept"] == 2 and src["sha256"] and src["baseline_tests"] > 400, src
    assert report["total"]["kept"] == 2 and report["total"]["seconds_per_candidate"]["mean"] > 0
    for row in rows:
        meta = row["claw_meta"]
        assert meta["kind"] == "synthesized" and meta["f2p"] == len(row["FAIL_TO_PASS"]) >= 1
        assert meta["lines_changed"] >= 2 and meta["files_touched"] == 1 and meta["operator"] in OPERATORS
        assert meta["statement"] == "rewritten by scripted", meta
        assert row["problem_statement"].startswith("Reported by a user of inflection.")
        assert not meta["file"].startswith("test") and row["claw_deps"] and len(row["base_commit"]) == 40
        added = [ln[1:].strip() for ln in row["patch"].splitlines() if ln.startswith("+") and
                 not ln.startswith("+++") and len(ln.strip()) > 4]
        assert added and not any(a in row["problem_statement"] for a in added), row["problem_statement"]
        assert all(t.split("::")[0] in row["problem_statement"] for t in row["FAIL_TO_PASS"][:3])
    # the build graded each +1 (gold) / -1 (empty); here the first again, through the env, as a user would
    row = rows[0]
    env = gym.make("claw/SWE-v0", tasks=str(out / "instances.jsonl"), task_ids=[row["instance_id"]])
    try:
        _, info = env.reset(seed=0)
        assert info["base_commit"] == row["base_commit"]
        # nothing in the workspace holds the code before the bug: one commit, and the original file's blob is
        # in no object (the source tree is the clean code)
        clean = Path(row["claw_source"]) / row["claw_meta"]["file"]
        blob = subprocess.run(["git", "hash-object", "--stdin"], input=clean.read_bytes(), capture_output=True,
                              check=True).stdout.decode().strip()
        _, _, _, _, i = env.step(bash(f"git log --oneline | wc -l; git cat-file -e {blob} && echo LEAK || echo ok"))
        assert i["next_state"].text.split()[:2] == ["1", "ok"], i["next_state"].text
        env.step(bash(f"cat > /tmp/gold.patch <<'PATCH'\n{row['patch']}PATCH\ngit apply /tmp/gold.patch"))
        _, r, _, _, info = env.step("submit")
        assert r == 1.0 and info["outcome"]["status"] == "resolved", info["outcome"]
        env.reset(seed=0)
        _, r, _, _, info = env.step("submit")
        assert r == -1.0 and info["outcome"]["FAIL_TO_PASS"] == 0.0 and info["outcome"]["PASS_TO_PASS"] == 1.0
    finally:
        env.close()
    # resumable: a second run decides nothing again and keeps the dataset
    assert build_main(argv[:-2]) == 0
    assert len((out / "instances.jsonl").read_text().splitlines()) == 2
    assert len((out / "candidates.jsonl").read_text().splitlines()) == report["total"]["candidates"]
    assert json.loads((out / "report.json").read_text())["sources"][0]["kept_this_run"] == 0


@needs_local
def test_src_layout_and_a_missing_test_dependency_say_what_to_pass(cache, tmp_path):
    """itsdangerous keeps its code under src/ and needs freezegun for its tests: found from its metadata
    normally; with --no-deps the build stops at collection and says to pass --deps."""
    why = _pypi_unreachable()
    if why:
        pytest.skip(why)
    from claw_envs.swe.build.cli import build, parser
    from claw_envs.swe.build.deps import find_requirements
    from claw_envs.swe.build.source import fetch_pypi

    src = fetch_pypi("itsdangerous==2.2.0", cache)
    assert src.pythonpath == ("src",) and (src.root / "src" / "itsdangerous").is_dir()
    assert "freezegun" in find_requirements(src) and "pytest" in find_requirements(src)
    args = parser().parse_args(["--pypi", "itsdangerous==2.2.0", "--synthesize", "1", "--no-deps",
                                "--out", str(tmp_path / "o"), "--cache-dir", str(cache)])
    with pytest.raises(TaskError, match=r"No module named 'freezegun'.*pass --deps 'NAME'"):
        build(args)
