"""`make demo`'s pipeline on the tiny model: held-out eval before/after, noise baseline, verdict, report, plot."""

import json
from pathlib import Path

import pytest

from claw_trainer.heldout import EvalScores, bootstrap_ci, paired_diff, verdict

ROOT = Path(__file__).resolve().parents[1]


def _scores(label, values, seed=0):
    return EvalScores(label, tuple(values), tuple(f"t{i}" for i in range(len(values))), seed, 0.0)


def test_verdict_is_computed_from_the_numbers():
    before = _scores("before", [0.2, 0.4, 0.2, 0.0, 0.4, 0.2, 0.2, 0.4] * 4)
    noise = _scores("noise", [0.2, 0.2, 0.4, 0.0, 0.4, 0.2, 0.4, 0.2] * 4, seed=1)
    after = _scores("after", [0.6, 0.8, 0.6, 0.4, 0.8, 0.6, 0.6, 0.8] * 4)
    v = verdict(before, after, noise)
    assert v["exceeds_noise"] and v["change"]["delta"] == pytest.approx(0.4)
    assert "0.250 to 0.650" in v["sentence"] and "exceeds the noise" in v["sentence"]
    same = verdict(before, noise, before)  # a re-sample is not an improvement
    assert not same["exceeds_noise"] and "within the noise" in same["sentence"]
    # a real but small rise that sampling alone also produces is not called an improvement
    small = _scores("after", [v + 0.05 for v in before.scores])
    big_noise = _scores("noise", [v + 0.1 for v in before.scores], seed=1)
    assert not verdict(before, small, big_noise)["exceeds_noise"]
    assert verdict(before, small, None)["exceeds_noise"]
    worse = verdict(before, _scores("after", [0.0] * 32), noise)
    assert worse["exceeds_noise"] and "drop exceeds" in worse["sentence"]
    lo, hi = bootstrap_ci([0.0, 1.0] * 20)
    assert 0.3 < lo < 0.5 < hi < 0.7
    with pytest.raises(ValueError, match="same held-out episodes"):
        paired_diff(before, _scores("x", [0.1] * 8))


def test_demo_config_two_steps_on_tiny_model(tmp_path, capsys):
    """The demo config end to end on the tiny model (2 steps): every piece `make demo` shows is produced."""
    pytest.importorskip("transformers", reason="the [train] extra is not installed")
    from claw_trainer.cli import main
    from claw_trainer.store import read_turns

    out = tmp_path / "demo"
    rc = main(["train", "--config", str(ROOT / "configs" / "demo.yaml"), "--model.name", "tiny",
               "--model.cache_dir", str(tmp_path / "cache"), "--train.steps", "2", "--train.max_new_tokens", "12",
               "--eval.episodes", "8", "--train.output_dir", str(out),
               # the random tiny model's replies all rate 0, so RL alone keeps no turn; OPD on the teacher's
               # hints keeps them, giving the turn store training tasks to check the held-out set against
               "--judge.hint", "rules", "--method.loss", "combine"])
    assert rc == 0
    printed = capsys.readouterr().out
    h = json.loads((out / "heldout.json").read_text())
    assert [k for k in ("before", "noise", "after") if k in h] == ["before", "noise", "after"]
    for key in ("before", "noise", "after"):
        assert len(h[key]["scores"]) == 8 and all(0.0 <= s <= 1.0 for s in h[key]["scores"])
        assert h[key]["ci95"][0] <= h[key]["mean"] <= h[key]["ci95"][1]
    assert h["before"]["task_ids"] == h["after"]["task_ids"] == h["noise"]["task_ids"]
    assert all(t.startswith("teacher/arith-") for t in h["before"]["task_ids"])
    assert (h["before"]["sample_seed"], h["noise"]["sample_seed"], h["after"]["sample_seed"]) == (0, 1, 0)
    # held out: no training sample was on one of these tasks
    train_ids = {r["turn"]["task_id"] for r in read_turns(out)}
    assert train_ids and not train_ids & set(h["before"]["task_ids"]) and h["train_overlap"] == 0
    # the verdict follows from the scores, and the report and terminal say it
    v = verdict(*(EvalScores.from_dict(h[k]) for k in ("before", "after", "noise")))
    assert v == h["verdict"]
    report = (out / "report.md").read_text()
    assert "## Held-out evaluation" in report and v["sentence"] in report and "claw/Chat-v0" in report
    assert "held-out evaluation" in printed and "before" in printed and "after" in printed
    assert (out / "reward_curve.png").read_bytes()[:4] == b"\x89PNG"
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "reward" in r] == [1, 2]


def test_eval_config_errors():
    from claw_envs.core.errors import ConfigError
    from claw_trainer.config import load_config

    with pytest.raises(ConfigError, match="eval.metric"):
        load_config(ROOT / "configs" / "demo.yaml", ["--eval.metric", "judge"])
    with pytest.raises(ConfigError, match="eval.episodes"):
        load_config(ROOT / "configs" / "demo.yaml", ["--eval.episodes", "-1"])
    cfg = load_config(ROOT / "configs" / "demo.yaml")
    assert cfg.eval.episodes > 0 and cfg.env.id == "claw/Chat-v0"
    assert cfg.judge.backend == "none" and cfg.method.loss == "binary_rl"  # RL on the env's rating


def test_toolcall_worked_examples():
    """configs/toolcall.yaml's `examples: 3`: worked examples as earlier chat turns (a direct \\boxed answer, then
    python tool calls with their results) before the task, which the env itself accepts; `system_prompt: example`
    puts one in a system message instead."""
    from claw_envs.toolcall.env import WORKED_EXAMPLE, ToolCallEnv
    from claw_trainer.config import load_config

    cfg = load_config(ROOT / "configs" / "toolcall.yaml")
    env = ToolCallEnv(**cfg.env.kwargs)
    obs, info = env.reset(seed=3)
    assert [m["role"] for m in obs] == ["user", "assistant", "user", "assistant", "tool", "assistant",
                                        "user", "assistant", "tool", "assistant", "user"]
    assert '<tool_call>{"name": "python", "arguments": {"code": "print(16 * 27)"}}</tool_call>' == obs[3]["content"]
    _, reward, terminated, _, _ = env.step(f"The answer is \\boxed{{{env.task.answer}}}.")
    assert terminated and reward == 1.0
    env.close()
    sys_env = ToolCallEnv(tasks="generated", difficulty=1, system_prompt="example")
    assert sys_env.reset(seed=3)[0][0] == {"role": "system", "content": WORKED_EXAMPLE}
    assert "\\boxed{5}" in WORKED_EXAMPLE and '<tool_call>{"name": "python"' in WORKED_EXAMPLE
    custom = ToolCallEnv(tasks="generated", difficulty=1, system_prompt="Be brief.")
    assert custom.reset(seed=0)[0][0] == {"role": "system", "content": "Be brief."}
    assert ToolCallEnv(tasks="generated").reset(seed=0)[0][0]["role"] == "user"  # no system prompt by default
