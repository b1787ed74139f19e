"""The publish gate's cost, gate off vs on in one run (CPU, tiny model, `claw serve` on 127.0.0.1).

A trainer thread takes optimizer steps back to back and publishes after each one: straight into the served
policy (gate off) or through :class:`~claw_trainer.serving.gate.PublishGate` (gate on: every candidate is
scored on a Digits-v0 suite in the gate's thread, and only passing ones are served). Meanwhile a client sends
chat requests. Reported per mode: request latency p50/p95, non-200 answers, trainer steps/s, versions served.
The two modes share the machine, model and request mix; read the ratios, not the absolute numbers.

    python bench/gate.py [--quick]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "gate.json"
SUITE = {"env": "claw_trainer.toy:DigitsEnv", "episodes": 8}


def run(mode: str, n_requests: int, tmp: Path) -> dict:
    import httpx
    import torch

    from claw_trainer.config import load_config
    from claw_trainer.serving.gate import GateConfig, PublishGate
    from claw_trainer.serving.stack import ServeStack

    cfg = load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp / "cache"), "--train.output_dir",
                             str(tmp / mode), "--train.max_new_tokens", "16"])
    stack = ServeStack(cfg)
    gate = None
    if mode == "gate on":
        gate = PublishGate(stack.policy, GateConfig(suite=SUITE, delta=100.0), tmp / mode / "versions")
        gate.mount(stack.app)
    publish = gate.publish if gate else stack.policy.publish
    out: dict = {"mode": mode}
    with stack, httpx.Client(timeout=120) as client:
        if gate:
            gate.start()
            gate.wait_idle()
        model = copy.deepcopy(stack.policy._current[0]).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        ids = torch.randint(3, model.config.vocab_size, (8, 64))
        stop, steps, served = threading.Event(), [0], set()

        def trainer() -> None:
            while not stop.is_set():
                loss = model(input_ids=ids, labels=ids).loss
                opt.zero_grad()
                loss.backward()
                opt.step()
                steps[0] += 1
                publish({k: v.detach().clone() for k, v in model.state_dict().items()}, steps[0])

        th = threading.Thread(target=trainer)
        body = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 16, "temperature": 0}
        times, codes = [], []
        t0 = time.perf_counter()
        th.start()
        for _ in range(n_requests):
            s = time.perf_counter()
            r = client.post(stack.base_url + "/chat/completions", json=body)
            times.append(time.perf_counter() - s)
            codes.append(r.status_code)
            if r.status_code == 200:
                served.add(r.json()["policy_version"])
        stop.set()
        th.join()
        wall = time.perf_counter() - t0
        if gate:
            gate.stop()
            out["gate"] = {k: gate.counts[k] for k in ("published", "superseded", "rejected")}
            evals = [d["eval_s"] for d in gate.store.decisions() if d["decision"] == "published"]
            out["gate"]["eval_s_median"] = statistics.median(evals) if evals else None
    times.sort()
    out.update(p50_ms=1e3 * statistics.median(times), p95_ms=1e3 * times[int(0.95 * (len(times) - 1))],
               non_200=sum(c != 200 for c in codes), trainer_steps_per_s=steps[0] / wall,
               versions_served=len(served))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    n = 30 if a.quick else 80
    with tempfile.TemporaryDirectory() as d:
        rows = [run(m, n, Path(d)) for m in ("gate off", "gate on")]
    off, on = rows
    for r in rows:
        print(f"{r['mode']:8s}  latency p50 {r['p50_ms']:.1f} ms p95 {r['p95_ms']:.1f} ms, non-200 {r['non_200']}, "
              f"trainer {r['trainer_steps_per_s']:.2f} steps/s, {r['versions_served']} versions served"
              + (f", gate {r['gate']}" if "gate" in r else ""))
    print(f"gate on / off: latency p50 {on['p50_ms'] / off['p50_ms']:.2f}x, p95 {on['p95_ms'] / off['p95_ms']:.2f}x, "
          f"trainer steps/s {on['trainer_steps_per_s'] / off['trainer_steps_per_s']:.2f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
