"""`claw train / eval / rollout` end to end (tiny model, ToolCall-v0 in real sandboxes), configs and credit."""

import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from claw_envs.core.errors import ConfigError
from claw_envs.core.nextstate import NextState
from claw_trainer.config import load_config, parse_overrides
from claw_trainer.credit import score_episodes
from claw_trainer.rollout import Turn
from claw_trainer.store import read_turns
from tests.conftest import needs_local

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["quickstart", "toolcall", "terminal"])
def test_shipped_configs_load(name):
    cfg = load_config(ROOT / "configs" / f"{name}.yaml")
    assert cfg.env.num_envs % cfg.env.group_size == 0


def test_overrides_and_errors(tmp_path):
    assert parse_overrides(["--method.loss", "opd", "--train.steps=3", "--env.kwargs", "{a: 1}"]) == \
        {"method": {"loss": "opd"}, "train": {"steps": 3}, "env": {"kwargs": {"a": 1}}}
    cfg = load_config(ROOT / "configs" / "quickstart.yaml", ["--train.steps", "3", "--method.w_opd", "2",
                                                             "--train.lr", "1e-5"])
    assert cfg.train.steps == 3 and cfg.method.w_opd == 2.0 and cfg.train.lr == 1e-5
    cases = [(["--train.stepz", "3"], "unknown key train.stepz"), (["--trian.steps", "3"], "unknown section"),
             (["--train.steps", "many"], "train.steps: expected int"), (["--method.loss", "ppo"], "method.loss"),
             (["--env.group_size", "3"], "must divide"), (["steps", "3"], "--section.key"),
             (["--method.loss", "opd", "--judge.hint", "none"], "set judge.hint")]
    for overrides, message in cases:
        with pytest.raises(ConfigError, match=message):
            load_config(ROOT / "configs" / "quickstart.yaml", overrides)
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def _turn(task, ep, step, reward, process=None, hint=None):
    return Turn((1,), (2, 3), (-0.5, -0.5), 0, "e", task, ep, step, "a", NextState(role="tool", kind="tool", text="x"),
                reward, {"outcome": reward, "process": process, "hint": hint}, hint)


def test_credit_per_loss():
    # outcome-only, two tasks: returns are normalised across each task's episodes and broadcast to turns
    eps = [[_turn("a", 0, 0, 0.0), _turn("a", 0, 1, 1.0)], [_turn("a", 1, 0, -1.0)], [_turn("b", 2, 0, 1.0)],
           [_turn("b", 3, 0, 1.0)]]
    samples, counts = score_episodes(eps, "binary_rl")
    assert [s.a_rl for s in samples] == pytest.approx([1.0, 1.0, -1.0], abs=1e-5)  # (1-0)/1, (-1-0)/1
    assert counts == Counter(turns=5, episodes=4, kept=3, dropped=2, hinted=0, judged=0)  # task b is constant
    raw, _ = score_episodes(eps, "binary_rl", group_norm=False)
    assert [s.a_rl for s in raw] == [1.0, 1.0, -1.0, 1.0, 1.0]
    # judged + hints: combine keeps a turn with a non-zero vote or a hint; opd keeps only hinted turns
    eps = [[_turn("a", 0, 0, 0.0, process=1.0), _turn("a", 0, 1, -1.0, process=0.0, hint="do X")],
           [_turn("a", 1, 0, -1.0, process=0.0)], [_turn("a", 2, 0, -1.0, process=-1.0, hint="do Y")]]
    comb, counts = score_episodes(eps, "combine", group_norm=False)
    assert [(s.turn.hint, s.has_score, s.has_hint, s.a_rl) for s in comb] == \
        [(None, True, False, 1.0), ("do X", False, True, 0.0), ("do Y", True, True, -1.0)]
    assert counts["dropped"] == 1 and counts["judged"] == 4
    opd, _ = score_episodes(eps, "opd")
    assert [s.turn.hint for s in opd] == ["do X", "do Y"]
    sw, _ = score_episodes(eps, "step_wise")  # (task, step) buckets: step 0 has votes 1, 0, -1 (+ outcomes)
    assert {s.turn.step for s in sw} == {0, 1}


def test_turn_json_roundtrip():
    t = _turn("a", 0, 0, 1.0, hint="h")
    back = Turn.from_json(json.loads(json.dumps(t.to_json())))
    assert back == t


@needs_local
def test_claw_train_eval_rollout_cli_end_to_end(tmp_path):
    from claw_trainer.cli import main

    out = tmp_path / "run"
    common = ["--config", str(ROOT / "configs" / "quickstart.yaml"), "--model.name", "tiny",
              "--model.cache_dir", str(tmp_path / "cache"), "--judge.backend", "rules", "--judge.hint", "rules",
              "--env.num_envs", "4", "--env.group_size", "2", "--train.max_new_tokens", "12"]
    args = ["train", *common, "--train.steps", "2", "--train.save_every", "1", "--train.batch_size", "4",
            "--train.micro_batch_size", "2", "--train.output_dir", str(out), "--method.group_norm", "false"]
    assert main(args) == 0
    for f in ("report.md", "metrics.jsonl", "config.json", "turns.sqlite", "checkpoint-1/claw_state.json",
              "final/config.json"):
        assert (out / f).is_file(), f
    assert list(out.glob("runs/*/events.out.tfevents.*")), "no TensorBoard event file"
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    report = (out / "report.md").read_text()
    assert "| step | reward" in report and "claw/ToolCall-v0" in report
    if (out / "reward_curve.png").exists():
        assert (out / "reward_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert main(args) == 2  # the folder holds a run: refuse to mix, point to --resume
    assert main([*args[:-4], "--train.steps", "3", "--train.output_dir", str(out), "--resume"]) == 0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in rows) == 3
    turns = read_turns(out)  # the one turn store: kept samples, each trained at most once, by steps 1-3
    assert turns and {r["status"] for r in turns} <= {"judged", "trained"}
    assert {r["step"] for r in turns if r["status"] == "trained"} <= {1, 2, 3}
    assert all(r["credit"] is not None and r["grp"].startswith("round-") for r in turns)
    # eval and rollout with the trained model
    assert main(["eval", *common, "--model", str(out / "final"), "--episodes", "4"]) == 0
    turns_file = tmp_path / "turns.jsonl"
    assert main(["rollout", *common, "--episodes", "4", "--out", str(turns_file)]) == 0
    turns = [Turn.from_json(json.loads(x)) for x in turns_file.read_text().splitlines()]
    assert {t.episode for t in turns} == {0, 1, 2, 3} and all(t.messages for t in turns)
    assert all(len(t.completion_ids) == len(t.logprobs) for t in turns)
    assert any(t.reward_channels.get("process") is not None for t in turns)


def test_a_second_claw_train_on_one_output_dir_fails_at_once_naming_the_holder(tmp_path, capsys):
    """The sync driver takes the turn store's single-writer lock before loading anything."""
    import subprocess
    import sys

    from claw_trainer.cli import main

    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom claw_trainer.store import TurnStore\n"
                               "s = TurnStore(sys.argv[1])\nprint('ready', flush=True)\ntime.sleep(120)",
                               str(out / "turns.sqlite")], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "ready"
        for extra in ([], ["--resume"]):
            assert main(["train", "--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"),
                         "--train.output_dir", str(out), *extra]) == 2
            printed = " ".join("".join(capsys.readouterr()).split())
            assert "already open for writing" in printed and f"pid {holder.pid}" in printed, printed
        assert not (tmp_path / "cache").exists() and not (out / "config.json").exists()  # nothing loaded or written
    finally:
        holder.kill()
        holder.wait()


def test_unknown_override_for_other_commands_is_an_error(capsys):
    from claw_trainer.cli import main

    with pytest.raises(SystemExit):
        main(["envs", "--train.steps", "3"])
    assert "unrecognized arguments" in capsys.readouterr().err


@needs_local
def test_openai_policy_against_serve_model(tmp_path):
    """Rollouts sampled by a real HTTP server on 127.0.0.1 carry the server's token ids and log-probs."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.policy.hf import chat_prompt_ids
    from claw_trainer.policy.openai import OpenAIPolicy
    from claw_trainer.serve_model import ModelServer
    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "tiny")
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    with ModelServer(model, tok) as server:
        policy = OpenAIPolicy(server.base_url, max_tokens=6)
        msgs = [{"role": "user", "content": "What is 2+2?"}]
        s = policy.sample([msgs, msgs])
        policy.close()
    assert list(s[0].prompt_ids) == chat_prompt_ids(tok, msgs)
    for x in s:
        ids = torch.tensor([list(x.prompt_ids) + list(x.completion_ids)])
        with torch.no_grad():
            lp = model(ids).logits.float().log_softmax(-1)[0]
        n = len(x.prompt_ids)
        assert [lp[n + k - 1, c].item() for k, c in enumerate(x.completion_ids)] == pytest.approx(list(x.logprobs),
                                                                                                  abs=1e-3)


def test_claw_rollout_records_gui_episodes(tmp_path):
    """`claw rollout --record` on GUI-v0 saves each episode's screenshots (a tiny model's garbage actions)."""
    from tests.test_gui import _REASON

    if _REASON:
        pytest.skip(f"GUI desktop: {_REASON}")
    from claw_trainer.cli import main

    rec = tmp_path / "rec"
    args = ["rollout", "--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"), "--env.id", "claw/GUI-v0",
            "--env.num_envs", "1", "--env.group_size", "1", "--env.kwargs", "{task_ids: [term-make-note], max_steps: 2}",
            "--train.max_new_tokens", "8", "--episodes", "1", "--out", str(tmp_path / "t.jsonl"), "--record", str(rec),
            "--record-format", "both"]
    assert main(args) == 0
    gifs, pngs = list(rec.glob("*.gif")), list(rec.glob("*.png"))
    assert gifs and pngs and gifs[0].read_bytes()[:3] == b"GIF" and pngs[0].read_bytes()[:4] == b"\x89PNG"
    assert main(["rollout", "--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"), "--episodes", "1",
                 "--record", str(rec)]) == 2  # ToolCall-v0 has no screenshots to record


@needs_local
def test_claw_train_with_beta_logs_a_positive_kl_after_the_first_step(tmp_path):
    """`method.beta > 0`: the reference is really frozen, so the KL to it is 0 at step 1 and positive at step 2."""
    from claw_trainer.cli import main

    out = tmp_path / "run"
    args = ["train", "--config", str(ROOT / "configs" / "quickstart.yaml"), "--model.name", "tiny",
            "--model.cache_dir", str(tmp_path / "cache"), "--judge.backend", "rules", "--judge.hint", "none",
            "--method.loss", "binary_rl", "--method.group_norm", "false", "--method.beta", "0.1",
            "--env.num_envs", "4", "--env.group_size", "2", "--train.max_new_tokens", "12", "--train.steps", "2",
            "--train.batch_size", "4", "--train.micro_batch_size", "2", "--train.lr", "1e-2",
            "--train.report_to", "[]", "--train.output_dir", str(out)]
    assert main(args) == 0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    kl = {r["step"]: r["kl"] for r in rows if "kl" in r}
    assert kl[1] == pytest.approx(0.0, abs=1e-6) and kl[2] > 0, kl
