"""``claw serve`` through the official openai SDK: time to first token and requests/s, 1 vs 8 streaming clients,
local mode vs upstream mode (``claw serve --upstream`` → ``claw serve-model``), and latency during publishes.

Every figure is measured in this run on the tiny random model (CPU), and reported as a ratio to the baseline of
the same run (local mode, one client). Streams are produced after generation (the whole completion is sampled,
recorded, then sent as deltas), so time to first token ≈ the request's latency; batching is what lets 8
clients share one ``generate`` call.

    python bench/serve.py [--requests 16] [--max-tokens 16]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.stats import pct  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "serve.json"


def _one(client, max_tokens: int, k: int) -> tuple[float, float]:
    """(time to first content chunk, total) of one streamed request, in seconds."""
    t0 = time.perf_counter()
    first = None
    stream = client.chat.completions.create(model="tiny", stream=True, max_tokens=max_tokens, temperature=1.0,
                                            messages=[{"role": "user", "content": f"request {k}: tell me a story"}])
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    return (first if first is not None else total), total


def run_clients(base_url: str, clients: int, requests: int, max_tokens: int) -> dict[str, float]:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=300)
    _one(client, max_tokens, -1)  # warm-up
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        res = list(pool.map(lambda k: _one(client, max_tokens, k), range(requests)))
    wall = time.perf_counter() - t0
    ttft = [r[0] for r in res]
    return {"clients": clients, "requests": requests, "req_per_s": requests / wall,
            "ttft_p50_ms": pct(ttft, 50), "ttft_p95_ms": pct(ttft, 95),
            "latency_p50_ms": pct([r[1] for r in res], 50)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=16)
    args = ap.parse_args()

    from claw_trainer.config import load_config
    from claw_trainer.models import load_model
    from claw_trainer.serve_model import ModelServer
    from claw_trainer.serving.stack import ServeStack

    tmp = Path(tempfile.mkdtemp(prefix="claw-bench-serve-"))
    cfg = load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp / "cache"),
                             "--train.max_new_tokens", str(args.max_tokens), "--train.output_dir", str(tmp / "local")])
    rows: dict[str, dict] = {}
    with ServeStack(cfg) as local:
        for clients in (1, 8):
            rows[f"local, {clients} client(s)"] = run_clients(local.base_url, clients, args.requests, args.max_tokens)
        # publishes back to back in a background thread while 8 clients stream
        state = {k: v.clone() for k, v in local.policy._current[0].state_dict().items()}
        stop = threading.Event()

        def publish() -> None:
            v = 1
            while not stop.is_set():
                local.policy.publish(state, v)
                v += 1

        t = threading.Thread(target=publish, daemon=True)
        t.start()
        rows["local, 8 clients, publishing"] = run_clients(local.base_url, 8, args.requests, args.max_tokens)
        stop.set()
        t.join()
        rows["local, 8 clients, publishing"]["publishes"] = local.policy.publishes
        batches = {"batches": local.policy.batcher.batches, "largest_batch": local.policy.batcher.largest}
    model, tok = load_model("tiny", cache_dir=tmp / "cache")
    cfg_up = load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp / "cache"),
                                "--train.max_new_tokens", str(args.max_tokens),
                                "--train.output_dir", str(tmp / "upstream")])
    with ModelServer(model, tok) as upstream, ServeStack(cfg_up, upstream=upstream.base_url) as up:
        for clients in (1, 8):
            rows[f"upstream, {clients} client(s)"] = run_clients(up.base_url, clients, args.requests, args.max_tokens)
    base = rows["local, 1 client(s)"]
    print(f"{'mode':34} {'req/s':>7} {'x base':>7} {'TTFT p50':>9} {'x base':>7} {'TTFT p95':>9}")
    for name, r in rows.items():
        r["req_per_s_ratio"] = r["req_per_s"] / base["req_per_s"]
        r["ttft_p50_ratio"] = r["ttft_p50_ms"] / base["ttft_p50_ms"]
        print(f"{name:34} {r['req_per_s']:7.2f} {r['req_per_s_ratio']:7.2f} {r['ttft_p50_ms']:7.0f}ms "
              f"{r['ttft_p50_ratio']:7.2f} {r['ttft_p95_ms']:7.0f}ms")
    pub = rows["local, 8 clients, publishing"]
    print(f"latency during publishes: p50 x{pub['latency_p50_ms'] / rows['local, 8 client(s)']['latency_p50_ms']:.2f}"
          f" of 8 clients without ({pub['publishes']} publishes); local batching: {batches}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": rows, "batching": batches, "max_tokens": args.max_tokens}, indent=1))


if __name__ == "__main__":
    main()
