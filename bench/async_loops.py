"""Asynchronous vs synchronous training throughput, and serving latency during weight updates (CPU, tiny model).

1. Throughput: an env whose step sleeps and a judge whose vote sleeps (stand-ins for a slow tool/VM and a
   remote judge model). Synchronous mode runs collect → judge → train → publish in turn; asynchronous mode runs
   the same components as the four concurrent loops. Both use the same store, judge, learner and batch size;
   the figure is trained turns per second. Target: async ≥ 1.8× sync.
2. Latency: HTTP chat requests to ``claw serve`` (127.0.0.1) while idle vs while a background thread trains and
   publishes new weights back to back. Serving must never fail.

    python bench/async_loops.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "async.json"
ENV_DELAY, VOTE_DELAY, N_ENVS = 0.4, 0.05, 8


def _components(tmp: Path, batch: int):
    import copy

    from claw_envs.core.env import ClawEnv
    from claw_envs.core.nextstate import NextState
    from claw_envs.prm.judge import Judge
    from claw_envs.prm.rules import RuleBackend
    from claw_envs.vector import ClawVectorEnv
    from claw_trainer.async_loops import AsyncLoops
    from claw_trainer.config import MethodConfig
    from claw_trainer.env_producer import EnvProducer
    from claw_trainer.learner import Learner
    from claw_trainer.models import load_model
    from claw_trainer.serving.policy import ServedPolicy
    from claw_trainer.serving.store import TurnStore

    class SlowEnv(ClawEnv):
        kind = "chat"

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.messages = [{"role": "user", "content": "Say something nice."}]
            return self._observe(), {"task_id": "slow"}

        def step(self, action):
            time.sleep(ENV_DELAY)
            reply = "thanks, perfect" if len(str(action)) % 2 else "that's wrong, try again"
            self.messages += [{"role": "assistant", "content": str(action)}, {"role": "user", "content": reply}]
            return self._observe(), 0.0, True, False, self._info(NextState(role="user", kind="chat", text=reply),
                                                                task_id="slow")

    class SlowRules(RuleBackend):
        async def complete(self, messages, **kw):
            await asyncio.sleep(VOTE_DELAY)
            return await super().complete(messages, **kw)

    model, tok = load_model("tiny", cache_dir=tmp / "cache")
    store = TurnStore(tmp / "turns.sqlite")
    served = ServedPolicy(copy.deepcopy(model), tok, max_new_tokens=8)
    learner = Learner(model, tok, MethodConfig(loss="binary_rl", group_norm=False), lr=1e-4)  # groups of one
    judge = Judge(SlowRules(), mode="binary", m=1, cache_size=0)
    loops = AsyncLoops(store, served, learner, judge, None, batch_size=batch)
    vec = ClawVectorEnv([SlowEnv for _ in range(N_ENVS)])
    producer = EnvProducer(vec, served, store, loops.notify, group_size=1)
    return loops, producer, vec, store


def throughput(mode: str, target: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        loops, producer, vec, store = _components(Path(d), batch=8)
        t0 = time.perf_counter()
        if mode == "sync":
            while loops.stats["trained"] < target:
                for i in producer.round():
                    loops._judge_one(i)
                while loops.train_once():
                    loops.publish_now()
        else:
            loops.start()
            producer.start()
            while loops.stats["trained"] < target:
                time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        if mode == "async":
            producer.stop()
            loops.stop()
        vec.close()
        trained = loops.stats["trained"]
        store.close()
    return {"mode": mode, "trained": trained, "seconds": elapsed, "turns_per_s": trained / elapsed}


def latency(quick: bool) -> dict:
    import httpx
    import torch

    from claw_trainer.config import load_config
    from claw_trainer.serving.stack import ServeStack

    with tempfile.TemporaryDirectory() as d:
        cfg = load_config(None, ["--model.name", "tiny", "--model.cache_dir", f"{d}/cache", "--train.output_dir",
                                 f"{d}/run", "--train.max_new_tokens", "16"])
        out = {}
        with ServeStack(cfg) as stack, httpx.Client(timeout=60) as client:
            body = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 16, "temperature": 0}
            n = 20 if quick else 60
            stop = threading.Event()
            publishes = [0]

            def updater():
                trainee = stack.policy._current[0]
                import copy

                model = copy.deepcopy(trainee).train()
                opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
                ids = torch.randint(3, model.config.vocab_size, (8, 64))
                while not stop.is_set():
                    loss = model(input_ids=ids, labels=ids).loss
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    stack.policy.publish({k: v.detach().clone() for k, v in model.state_dict().items()},
                                         stack.policy.version + 1)
                    publishes[0] += 1

            for label in ("idle", "updating"):
                th = threading.Thread(target=updater) if label == "updating" else None
                if th:
                    th.start()
                times, codes = [], []
                for _ in range(n):
                    t0 = time.perf_counter()
                    r = client.post(stack.base_url + "/chat/completions", json=body)
                    times.append(time.perf_counter() - t0)
                    codes.append(r.status_code)
                if th:
                    stop.set()
                    th.join()
                times.sort()
                out[label] = {"p50_ms": 1e3 * statistics.median(times), "p95_ms": 1e3 * times[int(0.95 * (n - 1))],
                              "non_200": sum(c != 200 for c in codes)}
            out["publishes_during_updating"] = publishes[0]
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    target = 32 if a.quick else 64
    runs = [throughput(m, target) for m in ("sync", "async", "sync", "async")]
    sync = statistics.median(r["turns_per_s"] for r in runs if r["mode"] == "sync")
    asyn = statistics.median(r["turns_per_s"] for r in runs if r["mode"] == "async")
    print(f"throughput  sync {sync:.2f} turns/s, async {asyn:.2f} turns/s -> {asyn / sync:.2f}x (target >= 1.8x); "
          f"env step {ENV_DELAY}s x {N_ENVS} envs, judge vote {VOTE_DELAY}s")
    lat = latency(a.quick)
    print(f"latency     idle p50 {lat['idle']['p50_ms']:.1f} ms (p95 {lat['idle']['p95_ms']:.1f}), while training + "
          f"publishing p50 {lat['updating']['p50_ms']:.1f} ms (p95 {lat['updating']['p95_ms']:.1f}); "
          f"{lat['publishes_during_updating']} publishes, non-200: {lat['idle']['non_200'] + lat['updating']['non_200']}")
    RESULTS.write_text(json.dumps({"throughput": runs, "sync_turns_per_s": sync, "async_turns_per_s": asyn,
                                   "ratio": asyn / sync, "latency": lat}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
