"""The three next-state signals compared on one core: evaluative (PRM votes), directive (hinted OPD) and
predictive (ECHO), against plain Binary RL, with seeds, paired bootstrap CIs and the noise baseline.

Setting (a), a tiny model on a toy where each signal can inform (``MultiSignal``, registered here as
``bench/MultiSignal-v0``): one step, "Reply with digits only."; the env's reward is 2·(digit fraction) − 1;

* evaluative: a rule judge's vote (+1 when at least half the reply's characters are digits, else −1) in
  ``reward_channels["process"]`` (``step_wise`` and ``combine`` runs; ``binary_rl`` learns from the reward);
* directive: a hint ("Write only digits, like 1 2 3 4.") in ``reward_channels["hint"]`` (``opd``, ``combine``);
* predictive: the next state ``score +0.50 (k of n characters are digits)`` that ECHO learns to predict.

The starting model is the repo's tiny random model (:mod:`claw_trainer.tiny`) briefly fine-tuned so that it
*can read the hint*: with the hint in context it writes digits, without it half its replies are words. So the
hinted teacher (the frozen starting model with the hint) beats its unhinted student, as OPD assumes.

Every method gets the same budget (``--steps`` optimizer steps of ``--envs`` episodes, groups of 4, the async
:class:`~claw_trainer.learner.Learner` driving :mod:`claw_trainer.core`), for each ``--seeds``. Held-out
(:mod:`claw_trainer.heldout`): ``--episodes`` episodes with seeds disjoint from training, scored by the env's
reward (never the judge), sampled with seed 0 before and after; the noise baseline re-samples the starting
model with seed 1. Per run: the paired change and its 95 % bootstrap CI, the verdict, the paired difference
to ``binary_rl`` of the same seed, and the held-out NLL of the observation tokens (what ECHO optimises).

    python bench/methods.py [--seeds 0 1 2] [--steps 3 8] [--episodes 128] [--methods binary_rl opd ...]

Two more runs test OPD's second generation: the hint source returns two candidates, a distractor first
("Say hello.", which the model never learnt to read) and the real hint; ``hint_select: first`` vs ``overlap``.

Writes ``bench/results/methods.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "methods.json"
ENV_ID = "bench/MultiSignal-v0"
PROMPT = "Reply with digits only."
HINT = "Write only digits, like 1 2 3 4."
DISTRACTOR = "Say hello."  # a second candidate hint the starting model was never taught to read
# method name -> (loss, judge votes on, hints (0 none, 1 the hint, 2 [distractor, hint]), echo_coef, hint_select)
METHODS = {"binary_rl": ("binary_rl", False, 0, 0.0, "first"), "step_wise": ("step_wise", True, 0, 0.0, "first"),
           "opd": ("opd", False, 1, 0.0, "first"), "combine": ("combine", True, 1, 0.0, "first"),
           "combine+echo": ("combine", True, 1, 0.05, "first"), "binary_rl+echo": ("binary_rl", False, 0, 0.05, "first"),
           "opd:2hints-first": ("opd", False, 2, 0.0, "first"), "opd:2hints-overlap": ("opd", False, 2, 0.0, "overlap")}
DEFAULT_METHODS = ["binary_rl", "step_wise", "opd", "combine", "combine+echo", "binary_rl+echo",
                   "opd:2hints-first", "opd:2hints-overlap"]
UNHINTED = ["hello there", "1 2 3", "the answer", "4 5 6 7", "yes ok", "8 9 0", "tool user", "12 34"]
HINTED = ["1 2 3 4", "5 6 7 8", "9 0 1 2", "3 4 5 6"]


def make_env_class() -> Any:
    from claw_envs.core.env import ClawEnv
    from claw_envs.core.nextstate import NextState

    class MultiSignal(ClawEnv):
        kind = "chat"

        def __init__(self, judge: bool = False, hint: int = 0, render_mode: str | None = None):
            super().__init__(render_mode=render_mode)
            self.judge, self.hint = judge, hint

        def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
            super().reset(seed=seed)
            self.messages = [{"role": "user", "content": PROMPT}]
            self.task = f"digits-{seed}"
            return self._observe(), {"task_id": self.task}

        def step(self, action: Any):
            text = action if isinstance(action, str) else str(action)
            chars = [c for c in text if not c.isspace()]
            digits = sum(c.isdigit() for c in chars)
            frac = digits / len(chars) if chars else 0.0
            reward = 2.0 * frac - 1.0
            ns = NextState(role="environment", kind="chat", done_reason="answered",
                           text=f"score {reward:+.2f} ({digits} of {len(chars)} characters are digits)")
            self.messages += [{"role": "assistant", "content": text}, {"role": "user", "content": ns.text}]
            channels: dict[str, Any] = {"outcome": reward}
            if self.judge:
                channels["process"] = 1.0 if frac >= 0.5 else -1.0
            if self.hint:  # one hint, or two candidates (a hint source with several; method.hint_select picks)
                channels["hint"] = HINT if self.hint == 1 else [DISTRACTOR, HINT]
            return self._observe(), reward, True, False, self._info(ns, task_id=self.task, reward_channels=channels)

    return MultiSignal


def register() -> Any:
    import gymnasium as gym

    cls = make_env_class()
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=cls)
    return cls


def base_model(out: Path, seed: int = 0, steps: int = 150) -> Path:
    """The tiny model fine-tuned to read the hint (digits with it, half words without it); built once."""
    import random

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.core import with_hint
    from claw_trainer.policy.hf import chat_prompt_ids
    from claw_trainer.tiny import build_tiny_model

    path = out / "base"
    if (path / "config.json").is_file():
        return path
    tiny = build_tiny_model(out / "tiny", seed=seed)
    tok = AutoTokenizer.from_pretrained(tiny)
    model = AutoModelForCausalLM.from_pretrained(tiny)
    msgs = [{"role": "user", "content": PROMPT}]
    plain, hinted = chat_prompt_ids(tok, msgs), chat_prompt_ids(tok, with_hint(msgs, HINT))
    rng = random.Random(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        rows = [(hinted, rng.choice(HINTED)) for _ in range(4)] + [(plain, rng.choice(UNHINTED)) for _ in range(4)]
        loss = 0.0
        for p, reply in rows:
            c = tok(reply, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            logits = model(input_ids=torch.tensor([p + c])).logits[0, len(p) - 1:-1]
            loss = loss + torch.nn.functional.cross_entropy(logits, torch.tensor(c)) / len(rows)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def eval_cfg(model_path: Path, episodes: int, max_new_tokens: int) -> Any:
    from claw_trainer.config import RunConfig

    cfg = RunConfig()
    cfg.model.name = str(model_path)
    cfg.env.id, cfg.env.kwargs = ENV_ID, {}
    cfg.eval.episodes, cfg.eval.num_envs = episodes, min(episodes, 32)
    cfg.train.max_new_tokens, cfg.train.temperature = max_new_tokens, 1.0
    return cfg


def heldout_echo_nll(model: Any, tok: Any, cls: Any, n: int, max_new_tokens: int) -> float:
    """Mean NLL of the observation-content tokens of ``n`` held-out episodes (ECHO's own objective)."""
    import torch

    from claw_envs.vector import ClawVectorEnv
    from claw_trainer import core
    from claw_trainer.credit import TrainSample
    from claw_trainer.policy.hf import HFPolicy
    from claw_trainer.rollout import collect_episodes

    torch.manual_seed(0)
    vec = ClawVectorEnv([cls for _ in range(n)])
    try:
        eps = collect_episodes(vec, HFPolicy(model, tok, max_new_tokens), [2_000_000 + i for i in range(n)])
    finally:
        vec.close()
    samples = [TrainSample(t, 0.0, False, False) for ep in eps for t in ep]
    with torch.no_grad():
        return core.echo_term(model, core.echo_batch(samples, tok, len(samples), "cpu"), tok.pad_token_id)[0].item()


def train_one(base: Path, method: str, seed: int, steps: int, envs: int, max_new_tokens: int, lr: float,
              cls: Any) -> tuple[Any, Any, list[dict[str, float]]]:
    import functools

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_envs.vector import ClawVectorEnv
    from claw_trainer.config import MethodConfig, TrainConfig
    from claw_trainer.credit import score_episodes
    from claw_trainer.learner import Learner
    from claw_trainer.policy.hf import HFPolicy
    from claw_trainer.rollout import collect_episodes, group_seeds

    loss, judge, hint, echo, select = METHODS[method]
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    mcfg = MethodConfig(loss=loss, echo_coef=echo, w_opd=1.0, opd_clip=2.0 if hint else 0.0, hint_select=select)
    train = TrainConfig(lr=lr, batch_size=envs, micro_batch_size=envs, max_grad_norm=1.0, seed=seed, steps=steps)
    learner = Learner(model, tok, mcfg, lr=lr, train=train)
    policy = HFPolicy(model, tok, max_new_tokens)
    vec = ClawVectorEnv([functools.partial(cls, judge=judge, hint=hint) for _ in range(envs)])
    log = []
    try:
        for step in range(steps):
            policy.version = learner.step
            episodes = collect_episodes(vec, policy, group_seeds(seed, step, envs, 4))
            samples, counts = score_episodes(episodes, loss)
            reward = statistics.fmean(t.reward for ep in episodes for t in ep)
            out = learner.train_step(samples) if samples else {}
            keys = ("entropy", "kl_ref", "reply_len", "eos_prob", "opd_adv_mean", "echo_loss", "echo_tokens",
                    "hint_overlap", "hint_choice_index")
            log.append({"step": step, "reward": reward, "kept": counts["kept"],
                        **{k: out[k] for k in keys if k in out}})
    finally:
        vec.close()
    return model, tok, log


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(METHODS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, nargs="+", default=[3, 8], help="budgets (optimizer steps) to compare at")
    p.add_argument("--envs", type=int, default=8)
    p.add_argument("--episodes", type=int, default=None, help="held-out episodes (default: 128; setting b: 32)")
    p.add_argument("--max-new-tokens", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--out", default=str(ROOT / "runs" / "methods"))
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--setting", choices=["a", "b"], default="a",
                   help="a: the method comparison on the toy; b: SmolLM2 hinted vs unhinted on Chat-v0 (no training)")
    p.add_argument("--personas", nargs="+", default=["teacher", "student"], help="setting b")
    a = p.parse_args()
    import warnings

    warnings.filterwarnings("ignore")
    if a.setting == "b":
        a.episodes = a.episodes or 32
        return setting_b(a)
    a.episodes = a.episodes or 128
    import torch

    torch.set_num_threads(1)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.heldout import EvalScores, evaluate, paired_diff, verdict

    t_all = time.time()
    cls = register()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    base = base_model(out)
    cfg = eval_cfg(base, a.episodes, a.max_new_tokens)
    model, tok = AutoModelForCausalLM.from_pretrained(base), AutoTokenizer.from_pretrained(base)
    before = evaluate(cfg, model, tok, "before", 0)
    noise = evaluate(cfg, model, tok, "noise", 1)
    # what the hinted teacher would score: the starting model with the hint in its context (first reply)
    hinted_cls = make_hinted_eval(cls)
    import gymnasium as gym

    if "bench/MultiSignalHinted-v0" not in gym.registry:
        gym.register(id="bench/MultiSignalHinted-v0", entry_point=hinted_cls)
    hcfg = eval_cfg(base, a.episodes, a.max_new_tokens)
    hcfg.env.id = "bench/MultiSignalHinted-v0"
    hinted = evaluate(hcfg, model, tok, "hinted teacher", 0)
    nll0 = heldout_echo_nll(model, tok, cls, 32, a.max_new_tokens)
    print(f"before {before.mean:+.3f}; noise re-sample {noise.mean:+.3f}; hinted teacher {hinted.mean:+.3f}; "
          f"held-out observation NLL {nll0:.3f}", flush=True)
    runs: list[dict[str, Any]] = []
    after_by: dict[tuple[str, int], EvalScores] = {}
    for steps, seed, method in [(st, sd, me) for st in a.steps for sd in a.seeds for me in a.methods]:
        t0 = time.time()
        m, tk, log = train_one(base, method, seed, steps, a.envs, a.max_new_tokens, a.lr, cls)
        after = evaluate(cfg, m, tk, f"{method} seed {seed} steps {steps}", 0)
        after_by[(method, seed, steps)] = after
        v = verdict(before, after, noise)
        run = {"method": method, "seed": seed, "steps": steps, "before": before.mean, "after": after.mean,
               "change": v["change"], "exceeds_noise": v["exceeds_noise"],
               "heldout_obs_nll": heldout_echo_nll(m, tk, cls, 32, a.max_new_tokens),
               "train_reward_first_last": [log[0]["reward"], log[-1]["reward"]], "log": log,
               "wall_s": time.time() - t0}
        if method != "binary_rl" and ("binary_rl", seed, steps) in after_by:
            run["vs_binary_rl"] = paired_diff(after_by[("binary_rl", seed, steps)], after)
        runs.append(run)
        print(f"{method:18s} {steps:2d} steps seed {seed}: {before.mean:+.3f} -> {after.mean:+.3f} "
              f"(CI {v['change']['ci95'][0]:+.3f}..{v['change']['ci95'][1]:+.3f}, beyond noise: "
              f"{v['exceeds_noise']}); obs NLL {run['heldout_obs_nll']:.3f}; {run['wall_s']:.0f}s", flush=True)
        write(a, before, noise, hinted, nll0, runs, time.time() - t_all)
    write(a, before, noise, hinted, nll0, runs, time.time() - t_all)


# Setting (b): does a hinted SmolLM2 write better first replies than the unhinted one? Short, concrete hints in
# the env's own terms (the persona's rating criteria), added to the request as OPD's teacher sees them.
CHAT_HINTS = {
    "teacher": "Write three or more friendly sentences: say 'Good effort!', state the correct answer, point out "
               "the student's mistake if there is one, and end with 'Score: 8/10'.",
    "student": "Answer in one or two plain sentences that give the number. No lists, no bold, no 'Sure' or "
               "'Certainly', no sign-off.",
}


def chat_hinted_class() -> Any:
    from claw_envs.chat.env import ChatEnv
    from claw_trainer.core import with_hint

    class ChatHinted(ChatEnv):
        def __init__(self, hint: str = "", **kw: Any):
            super().__init__(**kw)
            self.hint_text = hint

        def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
            obs, info = super().reset(seed=seed, options=options)
            self.messages = with_hint(self.messages, self.hint_text)
            return self._observe(), info

    return ChatHinted


def setting_b(a: argparse.Namespace) -> None:
    """Hinted vs unhinted first-reply rating of SmolLM2-135M on Chat-v0 (paired, same requests and sampling seed)."""
    import gymnasium as gym

    from claw_trainer.config import RunConfig
    from claw_trainer.heldout import evaluate, paired_diff
    from claw_trainer.models import load_model

    if "bench/ChatHinted-v0" not in gym.registry:
        gym.register(id="bench/ChatHinted-v0", entry_point=chat_hinted_class())
    model, tok = load_model("smollm2")
    out: dict[str, Any] = {"model": "SmolLM2-135M-Instruct", "episodes": a.episodes, "hints": CHAT_HINTS,
                           "personas": {}}
    t_all = time.time()
    for persona in a.personas:
        cfg = RunConfig()
        cfg.env.id = "claw/Chat-v0"
        cfg.env.kwargs = {"persona": persona, "user": "scripted", "rater": "rules", "reward": "first",
                          "max_steps": 1}
        cfg.eval.episodes, cfg.eval.num_envs = a.episodes, a.episodes
        cfg.train.max_new_tokens, cfg.train.temperature = 80, 1.0
        plain = evaluate(cfg, model, tok, "unhinted", 0)
        noise = evaluate(cfg, model, tok, "unhinted, seed 1", 1)
        cfg.env.id, cfg.env.kwargs = "bench/ChatHinted-v0", {**cfg.env.kwargs, "hint": CHAT_HINTS[persona]}
        hinted = evaluate(cfg, model, tok, "hinted", 0)
        d = {"unhinted": plain.as_dict(), "noise": noise.as_dict(), "hinted": hinted.as_dict(),
             "hinted_minus_unhinted": paired_diff(plain, hinted), "noise_delta": paired_diff(plain, noise)}
        out["personas"][persona] = d
        ch, nd = d["hinted_minus_unhinted"], d["noise_delta"]
        print(f"{persona}: unhinted {plain.mean:.3f}, hinted {hinted.mean:.3f} ({ch['delta']:+.3f}, 95% CI "
              f"{ch['ci95'][0]:+.3f}..{ch['ci95'][1]:+.3f}); noise {nd['delta']:+.3f} "
              f"({nd['ci95'][0]:+.3f}..{nd['ci95'][1]:+.3f})", flush=True)
    out["wall_s"] = time.time() - t_all
    res = Path(a.results)
    data = json.loads(res.read_text()) if res.is_file() else {}
    data["setting_b"] = out
    res.parent.mkdir(parents=True, exist_ok=True)
    res.write_text(json.dumps(data, indent=1))


def make_hinted_eval(cls: Any) -> Any:
    """The held-out env with the hint already in the first user message (to score the hinted teacher)."""
    from claw_trainer.core import with_hint

    class Hinted(cls):
        def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
            obs, info = super().reset(seed=seed, options=options)
            self.messages = with_hint(self.messages, HINT)
            return self._observe(), info

    return Hinted


def write(a: argparse.Namespace, before: Any, noise: Any, hinted: Any, nll0: float, runs: list, wall_s: float
          ) -> None:
    from claw_trainer.heldout import paired_diff

    summary = {}
    for steps, method in [(st, me) for st in a.steps for me in a.methods]:
        rs = [r for r in runs if r["method"] == method and r["steps"] == steps]
        if not rs:
            continue
        after = [r["after"] for r in rs]
        vs = [r["vs_binary_rl"]["delta"] for r in rs if "vs_binary_rl" in r]
        summary[f"{method}@{steps}"] = {"method": method, "steps": steps,
            "after_mean": statistics.fmean(after), "after_sd": statistics.stdev(after) if len(after) > 1 else 0.0,
            "change_mean": statistics.fmean(r["change"]["delta"] for r in rs),
            "runs_beyond_noise": sum(bool(r["exceeds_noise"]) for r in rs), "runs": len(rs),
            "vs_binary_rl_mean": statistics.fmean(vs) if vs else None,
            "vs_binary_rl_runs_better": sum(r["vs_binary_rl"]["ci95"][0] > 0 for r in rs if "vs_binary_rl" in r),
            "vs_binary_rl_runs_worse": sum(r["vs_binary_rl"]["ci95"][1] < 0 for r in rs if "vs_binary_rl" in r),
            "heldout_obs_nll_mean": statistics.fmean(r["heldout_obs_nll"] for r in rs)}
    res = Path(a.results)
    res.parent.mkdir(parents=True, exist_ok=True)
    res.write_text(json.dumps({
        "setting": "a: tiny random model (hint-readable after a short fine-tune) on bench/MultiSignal-v0",
        "args": vars(a), "before": before.as_dict(), "noise": noise.as_dict(),
        "noise_delta": paired_diff(before, noise), "hinted_teacher": hinted.as_dict(),
        "hinted_vs_student": paired_diff(before, hinted), "heldout_obs_nll_before": nll0,
        "summary": summary, "runs": runs, "wall_s": wall_s,
        "complete": len(runs) == len(a.methods) * len(a.seeds) * len(a.steps)}, indent=1))


if __name__ == "__main__":
    main()
