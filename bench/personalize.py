"""Chat-v0 personalisation as a benchmark: first-response rating before/after `claw train`, per persona and seed.

For each persona: the starting model is scored on held-out episodes (``eval.*`` of the config: reset seeds
disjoint from training, first reply only, rated by the persona's rules) with sampling seed 0 (*before*) and
with ``--noise-seeds`` other sampling seeds (*noise*: what re-sampling the untrained model alone moves the
score by). Then for each training seed: ``claw train`` with the config (default ``configs/demo.yaml``, the
persona swapped in), and the trained model scored on the same held-out episodes with sampling seed 0
(*after*). Everything the README's personalisation table shows comes from here:

    python bench/personalize.py [--config configs/demo.yaml] [--personas student teacher] [--seeds 0 1 2]
                                [--noise-seeds 1 2 3] [--episodes 32] [--steps N]

Writes ``bench/results/personalize.json`` (per run: before, after, paired change with its bootstrap CI,
verdict, wall time; per persona: the noise band and the mean ± sd of *after* over seeds).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "personalize.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "demo.yaml"))
    p.add_argument("--personas", nargs="+", default=["student", "teacher"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--noise-seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--episodes", type=int, default=32)
    p.add_argument("--steps", type=int, default=None, help="default: the config's train.steps")
    p.add_argument("--model", default=None, help="default: the config's model.name (e.g. 'tiny' to try the script)")
    p.add_argument("--out", default=str(ROOT / "runs" / "personalize"))
    p.add_argument("--results", default=str(RESULTS))
    a = p.parse_args()
    import warnings

    warnings.filterwarnings("ignore")
    from claw_trainer.config import load_config
    from claw_trainer.heldout import EvalScores, evaluate, paired_diff
    from claw_trainer.models import load_model
    from claw_trainer.run import train

    t_all = time.time()
    runs, personas = [], {}
    for persona in a.personas:
        over = ["--eval.episodes", str(a.episodes), "--eval.sample_seed", "0"]
        if a.steps is not None:
            over += ["--train.steps", str(a.steps)]
        if a.model is not None:
            over += ["--model.name", a.model]
        base = load_config(a.config, over)
        base.env.kwargs["persona"] = persona
        model, tok = load_model(base.model.name, cache_dir=base.model.cache_dir)
        t0 = time.time()
        before = evaluate(base, model, tok, "before", 0)
        noise = [evaluate(base, model, tok, f"noise seed {s}", s) for s in a.noise_seeds]
        del model
        deltas = [paired_diff(before, n)["delta"] for n in noise]
        personas[persona] = {"before": before.as_dict(), "noise": [n.as_dict() for n in noise],
                             "noise_deltas": deltas, "noise_band": [min(deltas), max(deltas)],
                             "eval_s": time.time() - t0}
        print(f"{persona}: before {before.mean:.3f}; re-sampled untrained model "
              f"{', '.join(f'{n.mean:.3f}' for n in noise)} (changes {min(deltas):+.3f} to {max(deltas):+.3f})",
              flush=True)
        for seed in a.seeds:
            out = Path(a.out) / f"{persona}-{seed}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            # the starting model's scores are shared by every seed: hand them to the run instead of re-scoring
            (out / "heldout.json").write_text(json.dumps({
                "metric": base.eval.metric, "episodes": a.episodes, "before": before.as_dict(),
                "noise": noise[0].as_dict()}))
            cfg = load_config(a.config, [*over, "--train.seed", str(seed), "--train.output_dir", str(out)])
            cfg.env.kwargs["persona"] = persona
            t1 = time.time()
            summary = train(cfg)
            h = summary["heldout"]
            after = EvalScores.from_dict(h["after"])
            run = {"persona": persona, "seed": seed, "before": before.mean, "after": after.mean,
                   "change": h["verdict"]["change"], "exceeds_noise": h["verdict"]["exceeds_noise"],
                   "train_overlap": h["train_overlap"], "steps": summary["steps"], "wall_s": time.time() - t1}
            runs.append(run)
            print(json.dumps(run), flush=True)
            summarise(a, personas, runs, time.time() - t_all)
    summarise(a, personas, runs, time.time() - t_all)
    for persona, d in personas.items():
        if "after_mean" not in d:
            continue
        print(f"{persona}: first-response rating {d['before']['mean']:.3f} -> {d['after_mean']:.3f} "
              f"± {d['after_sd']:.3f} over {len(d['after_per_seed'])} seeds; noise band {d['noise_band'][0]:+.3f} "
              f"to {d['noise_band'][1]:+.3f}; {d['runs_beyond_noise']}/{len(d['after_per_seed'])} runs beyond it")


def summarise(a: argparse.Namespace, personas: dict, runs: list, wall_s: float) -> None:
    """Per-persona summary (after mean ± sd, runs beyond the noise band), written after every run."""
    for persona, d in personas.items():
        after = [r["after"] for r in runs if r["persona"] == persona]
        if not after:
            continue
        d.update(after_per_seed=after, after_mean=statistics.fmean(after),
                 after_sd=statistics.stdev(after) if len(after) > 1 else 0.0,
                 runs_beyond_noise=sum(r["change"]["delta"] > d["noise_band"][1] and r["exceeds_noise"]
                                       for r in runs if r["persona"] == persona))
    res = Path(a.results)
    res.parent.mkdir(parents=True, exist_ok=True)
    res.write_text(json.dumps({"args": vars(a), "personas": personas, "runs": runs, "wall_s": wall_s,
                               "complete": len(runs) == len(a.personas) * len(a.seeds)}, indent=1))


if __name__ == "__main__":
    main()
