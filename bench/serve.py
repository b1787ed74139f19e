"""``claw serve`` through the official openai SDK: time to first token and requests/s, 1 vs 8 streaming clients,
local mode vs upstream mode (``claw serve --upstream`` → ``claw serve-model``), latency during publishes, and
live streaming with a real model: time to the first content chunk vs the whole reply for 64-token replies from
SmolLM2-135M-Instruct (``--stream-model``), and session attribution without headers: ``--convs`` conversations
of ``--turns`` requests from 4 concurrent clients, all opening with the same words (the fraction of requests
that land in their own conversation's session; see tests/test_attribution.py for the rule).

Every figure is measured in this run on CPU; the throughput rows use the tiny random model and are reported as
a ratio to the baseline of the same run (local mode, one client). Local mode streams live (text leaves the
server as it is sampled); upstream mode replays the finished completion (the upstream is not streamed), so
there time to first token ≈ the request's latency. Batching is what lets 8 clients share one ``generate`` call.

    python bench/serve.py [--requests 16] [--max-tokens 16] [--stream-model smollm2] [--stream-requests 5]
                          [--convs 40] [--turns 10]
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


def _stream_one(client, model: str, max_tokens: int, k: int) -> dict[str, float]:
    """One streamed reply: time to first content chunk, total, content chunks and completion tokens."""
    t0 = time.perf_counter()
    first, chunks, tokens = None, 0, 0
    stream = client.chat.completions.create(
        model=model, stream=True, max_tokens=max_tokens, temperature=0.7,
        messages=[{"role": "user", "content": f"Write a long story about a dragon and a lighthouse keeper "
                                              f"(story number {k})."}])
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            chunks += 1
            if first is None:
                first = time.perf_counter() - t0
        if chunk.choices and chunk.choices[0].finish_reason:
            tokens = len(chunk.choices[0].model_extra.get("token_ids") or [])
    total = time.perf_counter() - t0
    first = total if first is None else first
    return {"ttft_ms": first * 1000, "total_ms": total * 1000, "ratio": first / total, "chunks": chunks,
            "tokens": tokens}


def run_live_stream(model_name: str, requests: int, max_tokens: int, tmp: Path) -> dict:
    """Live streaming through a real model (one client at a time): TTFT vs total for ``max_tokens`` replies."""
    import openai

    from claw_trainer.config import load_config
    from claw_trainer.serving.stack import ServeStack

    cfg = load_config(None, ["--model.name", model_name, "--train.max_new_tokens", str(max_tokens),
                             "--train.output_dir", str(tmp / "live")])
    with ServeStack(cfg) as stack:
        client = openai.OpenAI(base_url=stack.base_url, api_key="bench", max_retries=0, timeout=600)
        _stream_one(client, model_name, 8, -1)  # warm-up
        res = [_stream_one(client, model_name, max_tokens, k) for k in range(requests)]
    return {"model": model_name, "max_tokens": max_tokens, "requests": requests,
            "ttft_p50_ms": pct([r["ttft_ms"] / 1000 for r in res], 50),
            "total_p50_ms": pct([r["total_ms"] / 1000 for r in res], 50),
            "ttft_over_total_p50": sorted(r["ratio"] for r in res)[len(res) // 2],
            "ttft_over_total_max": max(r["ratio"] for r in res),
            "tokens": [r["tokens"] for r in res], "content_chunks": [r["chunks"] for r in res], "each": res}


def run_attribution(base_url: str, convs: int, turns: int) -> dict:
    """``convs`` conversations x ``turns`` requests, 4 clients at once, no session headers: fraction attributed."""
    import random
    from collections import Counter

    import openai

    client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=300)
    log: list[tuple[int, str]] = []
    lock = threading.Lock()

    def converse(c: int) -> None:
        rng = random.Random(c)
        msgs = [{"role": "user", "content": "hi"}]  # every conversation opens alike
        for _ in range(turns):
            r = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=6, temperature=1.0)
            with lock:
                log.append((c, r.model_extra["session_id"]))
            msgs += [{"role": "assistant", "content": r.choices[0].message.content or ""},
                     {"role": "user", "content": rng.choice(["ok", "go on", "why?", "thanks", "more"])}]

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda w: [converse(c) for c in range(w, convs, 4)], range(4)))
    by_conv: dict[int, Counter] = {}
    for c, s in log:
        by_conv.setdefault(c, Counter())[s] += 1
    home = {c: n.most_common(1)[0][0] for c, n in by_conv.items()}
    owners = Counter(home.values())
    right = sum(1 for c, s in log if s == home[c] and owners[s] == 1)
    return {"conversations": convs, "requests": len(log), "right": right, "fraction": right / len(log),
            "stored_sessions": len({s for _, s in log})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--stream-model", default="smollm2", help="the real model of the live-streaming rows "
                    "('none' skips them)")
    ap.add_argument("--stream-requests", type=int, default=5)
    ap.add_argument("--stream-tokens", type=int, default=64)
    ap.add_argument("--convs", type=int, default=40, help="conversations of the attribution run (0 skips it)")
    ap.add_argument("--turns", type=int, default=10)
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
        attrib = run_attribution(local.base_url, args.convs, args.turns) if args.convs else None
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
    if attrib:
        print(f"attribution without headers: {attrib['right']}/{attrib['requests']} requests of "
              f"{attrib['conversations']} interleaved conversations in their own session ({attrib['fraction']:.1%})")
    live = None
    if args.stream_model != "none":
        live = run_live_stream(args.stream_model, args.stream_requests, args.stream_tokens, tmp)
        print(f"live streaming, {live['model']}, {live['max_tokens']}-token replies ({live['requests']} requests, "
              f"tokens {live['tokens']}): first content chunk p50 {live['ttft_p50_ms']:.0f} ms of "
              f"{live['total_p50_ms']:.0f} ms total; TTFT/total p50 {live['ttft_over_total_p50']:.3f}, "
              f"max {live['ttft_over_total_max']:.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": rows, "batching": batches, "max_tokens": args.max_tokens,
                                   "live_stream": live, "attribution": attrib}, indent=1))


if __name__ == "__main__":
    main()
