"""The CLI says what a newcomer needs: overrides in --help, distinct default ports, the flag to set for a group size
that does not fit, and project paths that work from any directory."""

import subprocess
import sys
from pathlib import Path

import pytest

from claw_trainer.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]


def _sub(name):
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "cmd" or getattr(a, "choices", None))
    return action.choices[name]


@pytest.mark.parametrize("name", ["train", "eval", "rollout", "serve"])
def test_help_mentions_section_key_overrides(name):
    assert "--section.key" in _sub(name).format_help()


def test_the_four_servers_default_to_distinct_ports():
    ports = {}
    for name in ("serve", "serve-model", "env-server", "view"):
        port = next(a for a in _sub(name)._actions if "--port" in a.option_strings)
        ports[name] = port.default
    assert ports == {"serve": 8000, "serve-model": 8001, "env-server": 8100, "view": 8765}


def test_train_says_which_flag_fits_the_group_size(capsys):
    assert main(["train", "--config", "configs/quickstart.yaml", "--env.num_envs", "1"]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "--env.group_size 1" in out and "--env.num_envs 4" in out, out


def test_judge_eval_cases_path_from_any_directory(tmp_path):
    r = subprocess.run([sys.executable, "-m", "claw_envs.cli", "judge-eval", "--judge", "rules", "--m", "1",
                        "--cases", "tasks/judge/cases.jsonl", "--json"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    n = sum(1 for line in (REPO / "tasks" / "judge" / "cases.jsonl").read_text().splitlines() if line.strip())
    assert f'"n": {n}' in r.stdout
