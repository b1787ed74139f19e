"""A persona teaches SmolLM2 its preference through the real OpenClaw, while ``claw serve --learn`` serves.

For each seed: ``claw serve --learn`` serves SmolLM2-135M and learns from the rule judge's reading of the user's
replies: ``--method combine`` (the default, OpenClaw-RL's combined objective) adds to the Binary RL vote the
directive signal, on-policy distillation towards the frozen model given the judge's hint (the user's follow-up
quoted); ``binary_rl`` uses the vote alone. OpenClaw 2026.9.6 is the client, configured with ``claw openclaw-profile`` (its prompt fits the 8k
window). The Chat-v0 persona (default: teacher) plays the user: it opens a session with a request, reads the
reply OpenClaw shows it, and asks for a rewrite naming what it wants until it is satisfied or the session
reaches ``--turns`` messages. Sessions run ``--workers`` at a time, each in its own OpenClaw session.

Held-out evaluation through the same client: ``--heldout`` requests (problem seeds disjoint from training),
each a fresh OpenClaw session whose first reply is rated by the persona's rules (OpenClaw-RL's
first-response metric). Held-out turns go through a second OpenClaw home whose provider sends
``X-Turn-Type: side``, so they are served by the same model but never trained on. Before training the
held-out set is run twice (*before* and *noise*: what re-sampling alone moves the score by); after the
learner's last step is published, once more (*after*). The verdict uses the demo's machinery
(:mod:`claw_trainer.heldout`: paired bootstrap CI, noise band).

    python bench/openclaw_personal.py [--persona teacher] [--method combine] [--seeds 0 1 2] [--sessions 8]
                                      [--turns 3] [--heldout 12] [--steps 3] [--batch 4] [--workers 2]

Each seed runs in its own process (a seed's model, optimizer and threads cannot leak into the next), which
also reports its peak resident memory per phase. Writes ``bench/results/openclaw_personal_<persona>_<method>.json``
after every seed.
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.stats import rss_kb  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "openclaw_personal_{persona}_{method}.json"
KEY = "sk-claw-bench"
HELDOUT_BASE = 900_000  # problem seeds of held-out requests; training uses seed * 10_000 + i


class PeakRSS:
    """Peak resident memory of this process (MB), sampled twice a second, per named phase."""

    def __init__(self):
        self.phase, self.peaks, self._stop = "start", {}, threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self._stop.wait(0.5):
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), round(rss_kb() / 1024))

    def close(self) -> dict:
        self._stop.set()
        return dict(self.peaks)


def shown(result: dict) -> str:
    return "\n".join(p.get("text") or "" for p in result.get("payloads") or []).strip()


class Homes:
    """OpenClaw homes, one per worker: two ``openclaw agent`` processes never share a home at once."""

    def __init__(self, paths: list[Path], config: dict):
        from claw_trainer.openclaw_profile import write_profile

        self.free: queue.Queue = queue.Queue()
        for p in paths:
            write_profile(p, config)
            self.free.put(p)

    def run(self, fn):
        home = self.free.get()
        try:
            return fn(home)
        finally:
            self.free.put(home)


def session(openclaw, home: Path, user, scenario, turns: int) -> dict:
    """One OpenClaw session (a fresh session id: without one OpenClaw continues its main session) driven by
    the persona; returns the ratings of the replies it was shown."""
    from claw_envs.chat.rating import RuleRating

    message, sid, history, ratings = scenario.first_message(), str(uuid.uuid4()), [], []
    for _ in range(turns):
        out = openclaw.agent(home, message, sid)
        reply = shown(out)
        ratings.append(RuleRating().rate(scenario, reply).score)
        history += [{"role": "user", "content": message}, {"role": "assistant", "content": reply}]
        answer = user.reply(scenario, history)
        if answer.done:
            break
        message = answer.text
    return {"task_id": scenario.task_id, "ratings": ratings, "satisfied": len(ratings) < turns or ratings[-1] == 1.0}


def judge_votes(rows: list[dict]) -> dict[str, int]:
    """How the judge voted on the training turns (+1 / 0 / -1): with no contrast, Binary RL has nothing to learn."""
    out = {"+1": 0, "0": 0, "-1": 0}
    for r in rows:
        score = (r.get("judgement") or {}).get("process")
        if score is not None:
            out["+1" if score > 0 else "-1" if score < 0 else "0"] += 1
    return out


def heldout(openclaw, homes: Homes, persona, n: int, workers: int, label: str):
    """First-reply ratings of ``n`` held-out requests, each a fresh OpenClaw session (as side turns)."""
    from claw_envs.chat.problems import procedural_problem
    from claw_envs.chat.rating import RuleRating
    from claw_trainer.heldout import EvalScores

    scenarios = [persona.scenario(procedural_problem(HELDOUT_BASE + i)) for i in range(n)]
    t0 = time.time()

    def one(s):
        out = homes.run(lambda home: openclaw.agent(home, s.first_message(), str(uuid.uuid4())))
        return RuleRating().rate(s, shown(out)).score

    with ThreadPoolExecutor(workers) as pool:
        scores = list(pool.map(one, scenarios))
    return EvalScores(label, tuple(scores), tuple(s.task_id for s in scenarios), 0, time.time() - t0)


def run_seed(a: argparse.Namespace, seed: int, out_dir: Path) -> dict:
    import torch

    from claw_envs.chat.personas import get_persona
    from claw_envs.chat.problems import procedural_problem
    from claw_envs.chat.user import ScriptedUser
    from claw_trainer.config import load_config
    from claw_trainer.heldout import verdict
    from claw_trainer.openclaw_profile import OpenClaw, profile_config
    from claw_trainer.serving.stack import ServeStack

    torch.manual_seed(seed)
    rss = PeakRSS()
    persona, user, openclaw = get_persona(a.persona), ScriptedUser(), OpenClaw.find()
    run = out_dir / f"{a.persona}-{a.method}-seed{seed}"
    hint = "none" if a.method == "binary_rl" else "rules"
    cfg = load_config(None, ["--model.name", "smollm2", "--judge.backend", "rules", "--judge.hint", hint,
                             "--judge.m", "1", "--method.loss", a.method, "--method.group_norm", "false",
                             "--train.gradient_checkpointing", "true" if a.gradient_checkpointing else "false",
                             "--train.batch_size", str(a.batch), "--train.micro_batch_size", "1",
                             "--train.lr", str(a.lr), "--train.max_new_tokens", str(a.max_tokens),
                             "--train.max_prompt_tokens", "8192", "--train.seed", str(seed),
                             "--train.output_dir", str(run / "serve")])
    t0 = time.time()
    with ServeStack(cfg, learn=True, max_steps=a.steps, api_keys=[KEY], max_batch=a.workers) as stack:
        base = profile_config(stack.base_url, "smollm2", KEY, max_tokens=a.max_tokens)
        eval_cfg = json.loads(json.dumps(base))
        eval_cfg["models"]["providers"]["claw"]["headers"] = {"X-Turn-Type": "side"}  # served, never trained
        eval_homes = Homes([run / f"home-eval-{w}" for w in range(a.workers)], eval_cfg)
        rss.phase = "held-out before"
        before = heldout(openclaw, eval_homes, persona, a.heldout, a.workers, "before")
        noise = heldout(openclaw, eval_homes, persona, a.heldout, a.workers, "noise")
        print(f"[seed {seed}] before {before.mean:.3f}, noise {noise.mean:.3f} ({time.time() - t0:.0f} s)",
              flush=True)
        sessions, rss.phase = [], "training sessions"
        scen = [persona.scenario(procedural_problem(seed * 10_000 + i)) for i in range(a.sessions)]
        homes = Homes([run / f"home-train-{w}" for w in range(a.workers)], base)

        def train_session(i: int) -> dict:
            return homes.run(lambda home: session(openclaw, home, user, scen[i], a.turns))

        with ThreadPoolExecutor(a.workers) as pool:
            for i, s in enumerate(pool.map(train_session, range(a.sessions))):
                s["learner_step"] = stack.loops.learner.step
                sessions.append(s)
                print(f"[seed {seed}] session {i}: ratings {s['ratings']} (step {s['learner_step']})", flush=True)
        rss.phase = "last learner steps"
        trained = stack.loops.wait_steps(a.steps, timeout=a.wait)
        deadline = time.time() + 300
        while stack.policy.version < stack.loops.learner.step and time.time() < deadline:
            time.sleep(1)  # the last step is published before the after-evaluation
        rss.phase = "held-out after"
        after = heldout(openclaw, eval_homes, persona, a.heldout, a.workers, "after")
        counts, version, step = stack.store.counts(), stack.policy.version, stack.loops.learner.step
        judged = stack.store.rows(("judged", "trained"))
        votes = judge_votes(judged)
        hinted = sum(bool((r.get("judgement") or {}).get("hint")) for r in judged)
    v = verdict(before, after, noise)
    result = {"seed": seed, "persona": a.persona, "method": a.method, "peak_rss_mb": rss.close(),
              "hinted_turns": hinted, "before": before.as_dict(), "noise": noise.as_dict(),
              "after": after.as_dict(), "verdict": v, "steps": step, "served_version": version,
              "reached_steps": trained, "store": counts, "judge_votes": votes, "sessions": sessions, "wall_s": time.time() - t0}
    print(f"[seed {seed}] {v['sentence']} (steps {step}, version {version}, {time.time() - t0:.0f} s)", flush=True)
    return result


def sessions_to_stable(run: dict, streak: int = 3) -> int | None:
    """OpenClaw-RL's second metric on the training sessions: how many sessions until the effect is stable, i.e.
    the 1-based index of the last of the first ``streak`` sessions in a row whose first reply (a fresh request,
    served by the weights of that moment) rates above the upper end of the held-out *before* CI; None if never."""
    bar, run_len = run["before"]["ci95"][1], 0
    for i, s in enumerate(run["sessions"], 1):
        run_len = run_len + 1 if s["ratings"] and s["ratings"][0] > bar else 0
        if run_len == streak:
            return i
    return None


def pooled(runs: list[dict]) -> dict:
    """The verdict over every seed's held-out episodes together (pairs are (seed, request)): more episodes, a
    narrower CI than any one seed's."""
    from claw_trainer.heldout import EvalScores, verdict

    def cat(label: str) -> EvalScores:
        parts = [EvalScores.from_dict(r[label]) for r in runs]
        ids = tuple(f"seed{r['seed']}/{t}" for r, e in zip(runs, parts, strict=True) for t in e.task_ids)
        return EvalScores(label, tuple(x for e in parts for x in e.scores), ids, 0, sum(e.wall_s for e in parts))

    before, after, noise = cat("before"), cat("after"), cat("noise")
    return {"before": before.mean, "after": after.mean, "noise": noise.mean, **verdict(before, after, noise)}


def summarize(a: argparse.Namespace, runs: list[dict], failed: list[dict], wall_s: float) -> dict:
    for r in runs:
        r["sessions_to_stable"] = sessions_to_stable(r)
    return {"config": vars(a), "runs": runs, "failed": failed, "wall_s": wall_s,
            "beyond_noise": sum(r["verdict"]["exceeds_noise"] for r in runs),
            "pooled": pooled(runs) if runs else None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--persona", default="teacher", choices=["teacher", "student"])
    p.add_argument("--method", default="combine", choices=["combine", "binary_rl", "opd"],
                   help="combine/opd learn also from the rule judge's hint (the user's follow-up)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--sessions", type=int, default=8, help="training sessions per seed")
    p.add_argument("--turns", type=int, default=3, help="user messages per session at most")
    p.add_argument("--heldout", type=int, default=12, help="held-out requests (first reply rated)")
    p.add_argument("--steps", type=int, default=3, help="learner steps")
    p.add_argument("--batch", type=int, default=4, help="judged turns per learner step")
    p.add_argument("--lr", type=float, default=1.5e-4)
    p.add_argument("--max-tokens", type=int, default=80, help="reply budget (OpenClaw's maxTokens)")
    p.add_argument("--workers", type=int, default=2, help="OpenClaw sessions at a time")
    p.add_argument("--gradient-checkpointing", type=int, default=1, choices=[0, 1],
                   help="1: the learner recomputes activations (OpenClaw's ~2k-token prompts)")
    p.add_argument("--wait", type=float, default=1800, help="seconds to wait for the last learner step")
    p.add_argument("--out", default=str(ROOT / "runs" / "openclaw_personal"))
    p.add_argument("--results", default=str(RESULTS), help="where to write ({persona}, {method} are filled in)")
    p.add_argument("--summarize", action="store_true",
                   help="only rebuild the results file from the seeds' JSON files under --out")
    p.add_argument("--seed-json", default="", help=argparse.SUPPRESS)  # internal: run one seed, write its result
    a = p.parse_args()
    a.results = a.results.format(persona=a.persona, method=a.method)
    import warnings

    warnings.filterwarnings("ignore")
    if a.seed_json:
        Path(a.seed_json).write_text(json.dumps(run_seed(a, a.seeds[0], Path(a.out))))
        return
    t_all, runs, failed = time.time(), [], []
    if a.summarize:
        runs = [json.loads((Path(a.out) / f"{a.persona}-{a.method}-seed{seed}.json").read_text()) for seed in a.seeds]
        summary = summarize(a, runs, [], sum(r["wall_s"] for r in runs))
        Path(a.results).write_text(json.dumps(summary, indent=1) + "\n")
        print(summary["pooled"]["sentence"])
        return
    for seed in a.seeds:
        out = Path(a.out) / f"{a.persona}-{a.method}-seed{seed}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        # argparse keeps the last --seeds given: the child runs this one seed
        argv = [*sys.argv[1:], "--seeds", str(seed), "--seed-json", str(out)]
        rc = subprocess.run([sys.executable, __file__, *argv]).returncode
        if rc != 0 or not out.exists():  # e.g. killed by the OOM killer (-9): say so, keep the other seeds
            failed.append({"seed": seed, "returncode": rc})
            print(f"[seed {seed}] failed: exit status {rc}", flush=True)
        else:
            runs.append(json.loads(out.read_text()))
        summary = summarize(a, runs, failed, time.time() - t_all)
        Path(a.results).parent.mkdir(parents=True, exist_ok=True)
        Path(a.results).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{summary['beyond_noise']}/{len(runs)} seeds beyond the noise ({len(failed)} failed); "
          f"{time.time() - t_all:.0f} s; results: {a.results}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
