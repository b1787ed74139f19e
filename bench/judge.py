"""Judge throughput over HTTP against `claw serve-model`: m=3 votes per turn, concurrency 1 vs 8, and m
requests per turn vs one request with n=m — all against the same server in the same run.

Usage: python bench/judge.py [--model smollm2|PATH] [--turns 24] [--max-tokens 48]
(results also written to bench/results/judge.json)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claw_envs.prm import Judge, OpenAIBackend, Turn  # noqa: E402
from claw_envs.prm.evaluate import load_cases  # noqa: E402
from claw_trainer.models import load_model  # noqa: E402
from claw_trainer.serve_model import ModelServer  # noqa: E402


def run(url: str, turns: list[Turn], concurrency: int, batch: bool, max_tokens: int) -> dict:
    judge = Judge(OpenAIBackend(url), m=3, max_concurrency=concurrency, batch_votes=batch, max_tokens=max_tokens,
                  cache_size=0)
    t = time.perf_counter()
    futs = [judge.submit(x) for x in turns]
    results = [f.result() for f in futs]
    dt = time.perf_counter() - t
    judge.close()
    return {"concurrency": concurrency, "batch_votes": batch, "judgements_per_s": len(turns) / dt,
            "seconds": dt, "invalid_votes": sum(r.invalid for r in results), "errors": judge.stats.errors}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--turns", type=int, default=24)
    ap.add_argument("--max-tokens", type=int, default=48)
    args = ap.parse_args()
    cases = load_cases(Path(__file__).resolve().parents[1] / "tasks" / "judge" / "cases.jsonl")[:args.turns]
    turns = [Turn(action=c["action"], next_text=c["next_state"]["text"], next_role=c["next_state"]["role"])
             for c in cases]
    model, tok = load_model(args.model)
    rows = []
    with ModelServer(model, tok, name=args.model) as server:
        run(server.base_url, turns[:2], 1, False, args.max_tokens)  # warm-up
        for concurrency, batch in ((1, False), (8, False), (1, True), (8, True)):
            rows.append(run(server.base_url, turns, concurrency, batch, args.max_tokens))
    base = rows[0]["judgements_per_s"]
    print(f"## judge throughput: HTTP backend, m=3, {len(turns)} turns, {args.model} via claw serve-model, "
          f"max_tokens={args.max_tokens}\n")
    print("| concurrency | votes per request | judgements/s | vs baseline | invalid votes |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['concurrency']} | {'3 (n=3)' if r['batch_votes'] else '1'} | {r['judgements_per_s']:.2f} | "
              f"{r['judgements_per_s'] / base:.2f}x | {r['invalid_votes']}/{3 * len(turns)} |")
    out = Path(__file__).parent / "results" / "judge.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
