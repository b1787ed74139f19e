"""Trainer benchmarks (CPU), each against a baseline measured in the same run.

1. One optimisation step (forward + backward + optimizer step on the same batch) of ``ClawTrainer`` vs stock
   ``trl.GRPOTrainer``: same random model, batch size and prompt/completion lengths. Each trainer runs in
   its own fresh process (interleaved A B A B ...), so peak memory is that process's own; time is the
   median step, peak memory the rise of the peak RSS over the RSS before the first step.
   Targets: speed ≥ 1.0×, memory ≤ 1.0× of stock.
2. Teacher/reference scoring at a 49k vocabulary (SmolLM2's) and 2k-token sequences: peak memory and time of
   the full-logits log-prob computation (what the trainer did before :mod:`claw_trainer.core`) vs the core's
   chunked one, each in a fresh process. Target: far less memory, same log-probs.
3. Rollouts with a slow env (every step sleeps): ``collect_episodes`` over N sub-envs stepped concurrently
   vs one at a time. Target: ≥ 0.8·N× faster.

    python bench/trainer.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.stats import rss_kb  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "trainer.json"


def step_worker(kind: str, model_dir: str, batch: int, prompt_len: int, comp_len: int, steps: int) -> dict:
    """Runs in a fresh process: build one trainer, time ``steps`` optimisation steps on a fixed batch."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from claw_trainer.config import MethodConfig
    from claw_trainer.trainer import ClawTrainer

    torch.manual_seed(0)
    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    out = tempfile.mkdtemp()
    args = GRPOConfig(output_dir=out, per_device_train_batch_size=batch, gradient_accumulation_steps=1,
                      num_generations=2, max_steps=steps, learning_rate=1e-5, beta=0.0, report_to=[], use_cpu=True,
                      logging_steps=10**6, save_strategy="no", disable_tqdm=True, gradient_checkpointing=False,
                      max_completion_length=comp_len, loss_type="bnpo")
    g = torch.Generator().manual_seed(1)
    vocab = model.config.vocab_size
    inputs = {"prompt_ids": torch.randint(3, vocab, (batch, prompt_len), generator=g),
              "prompt_mask": torch.ones(batch, prompt_len, dtype=torch.long),
              "completion_ids": torch.randint(3, vocab, (batch, comp_len), generator=g),
              "completion_mask": torch.ones(batch, comp_len, dtype=torch.long)}
    adv = torch.randn(batch, generator=g)
    if kind == "stock":
        trainer = GRPOTrainer(model=model, reward_funcs=[lambda completions, **k: [0.0] * len(completions)],
                              args=args, processing_class=tok,
                              train_dataset=Dataset.from_dict({"prompt": ["x"] * batch}))
        inputs.update(advantages=adv, num_items_in_batch=torch.tensor(float(batch * comp_len)))
    else:
        class _NoRollouts:  # the step is fed a fixed batch; nothing is collected
            vec_env = None

        trainer = ClawTrainer(model, tok, args, MethodConfig(loss="binary_rl"), _NoRollouts(), max_rounds=0)
        with torch.no_grad():
            full = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
            lp = model(full).logits[:, prompt_len - 1:-1].log_softmax(-1)
            sampler = lp.gather(-1, inputs["completion_ids"][..., None])[..., 0]
        inputs.update(advantages=adv[:, None].expand(batch, comp_len).clone(),
                      loss_mask=torch.ones(batch, comp_len), sampling_per_token_logps=sampler,
                      num_items_in_batch=torch.tensor(float(batch * comp_len)))
    trainer.create_optimizer_and_scheduler(num_training_steps=steps)
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's loop, which we bypass
    model.train()
    times = []
    rss0 = rss_kb()
    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i in range(steps + 2):
        t0 = time.perf_counter()
        loss = trainer.compute_loss(model, inputs)
        loss.backward()
        trainer.optimizer.step()
        trainer.optimizer.zero_grad()
        if i >= 2:  # two warm-up steps
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"step_s": statistics.median(times), "peak_rise_mb": max(peak - rss0, 0) / 1024,
            "peak_before_mb": peak0 / 1024, "loss": float(loss)}


def naive_logprobs(model, prompts, completions, pad_id):
    """The pre-core computation: full fp32 (batch x length x vocab) logits, then a log-softmax per row."""
    import torch

    from claw_trainer.core import pad_rows

    seqs = [list(p) + list(c) for p, c in zip(prompts, completions, strict=True)]
    ids, attn = pad_rows(seqs, pad_id, dtype=torch.long), pad_rows([[1] * len(x) for x in seqs], 0, dtype=torch.long)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=attn).logits.float()
        out = torch.zeros(len(seqs), max(len(c) for c in completions))
        for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
            lp = logits[i, len(p) - 1:len(p) - 1 + len(c)].log_softmax(-1)
            out[i, :len(c)] = lp.gather(-1, torch.tensor(c)[:, None])[:, 0]
    return out


def teacher_worker(kind: str, model_dir: str, batch: int, prompt_len: int, comp_len: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from claw_trainer.core import completion_logprobs

    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    g = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    prompts = torch.randint(3, vocab, (batch, prompt_len), generator=g).tolist()
    comps = torch.randint(3, vocab, (batch, comp_len), generator=g).tolist()
    rss0 = rss_kb()
    t0 = time.perf_counter()
    if kind == "naive":
        logp = naive_logprobs(model, prompts, comps, 0)
    else:
        logp = completion_logprobs(model, prompts, comps, 0)["logp"]
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"s": dt, "peak_rise_mb": max(peak - rss0, 0) / 1024, "checksum": float(logp.sum())}


def bench_teacher_memory(quick: bool) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      tie_word_embeddings=True)
    model_dir = Path(tempfile.mkdtemp()) / "m"
    AutoModelForCausalLM.from_config(cfg).save_pretrained(model_dir)
    batch, prompt_len, comp_len = (2, 1024, 1024)
    res = {}
    for kind in ("naive", "chunked"):
        cmd = [sys.executable, __file__, "--teacher-worker", kind, str(model_dir), str(batch), str(prompt_len),
               str(comp_len)]
        res[kind] = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
    return {"model": "Qwen2 hidden 64, 2 layers, vocab 49152 (random)", "batch": batch, "tokens_per_row":
            prompt_len + comp_len, **{f"{k}_{m}": v[m] for k, v in res.items() for m in ("s", "peak_rise_mb")},
            "memory_ratio": res["chunked"]["peak_rise_mb"] / max(res["naive"]["peak_rise_mb"], 1e-9),
            "same_logprobs": abs(res["naive"]["checksum"] - res["chunked"]["checksum"]) < 1e-2 * batch * comp_len}


def bench_step(quick: bool) -> dict:
    from claw_trainer.tiny import build_tiny_model

    model_dir = build_tiny_model(Path(tempfile.mkdtemp()) / "m", hidden=256, layers=4, vocab_size=2000)
    batch, prompt_len, comp_len = 8, 128, 128
    rounds, steps = (2, 5) if quick else (3, 10)
    res: dict[str, list] = {"stock": [], "claw": []}
    for _ in range(rounds):
        for kind in ("stock", "claw"):
            cmd = [sys.executable, __file__, "--worker", kind, str(model_dir), str(batch), str(prompt_len),
                   str(comp_len), str(steps)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            res[kind].append(json.loads(out))
    stock_t = statistics.median(r["step_s"] for r in res["stock"])
    claw_t = statistics.median(r["step_s"] for r in res["claw"])
    stock_m = statistics.median(r["peak_rise_mb"] for r in res["stock"])
    claw_m = statistics.median(r["peak_rise_mb"] for r in res["claw"])
    return {"model": "Qwen2 hidden 256, 4 layers, vocab 2000 (random)", "batch": batch, "prompt_len": prompt_len,
            "completion_len": comp_len, "stock_step_s": stock_t, "claw_step_s": claw_t,
            "speed_ratio": stock_t / claw_t, "stock_peak_rise_mb": stock_m, "claw_peak_rise_mb": claw_m,
            "memory_ratio": claw_m / stock_m if stock_m else None, "runs": res}


def bench_rollouts(quick: bool) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_envs.core.env import ClawEnv
    from claw_envs.core.nextstate import NextState
    from claw_envs.vector import ClawVectorEnv
    from claw_trainer.policy.hf import HFPolicy
    from claw_trainer.rollout import collect_episodes
    from claw_trainer.tiny import build_tiny_model

    delay, n_steps = 0.2, 3

    class SlowEnv(ClawEnv):
        """Each step takes ``delay`` seconds (a slow tool / judge / remote env); 3 steps per episode."""

        kind = "chat"

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.messages, self.t = [{"role": "user", "content": "go"}], 0
            return self._observe(), {"task_id": "slow"}

        def step(self, action):
            time.sleep(delay)
            self.t += 1
            self.messages += [{"role": "assistant", "content": str(action)}, {"role": "user", "content": "more"}]
            ns = NextState(role="user", kind="chat", text="more")
            return self._observe(), 0.0, self.t >= n_steps, False, self._info(ns, task_id="slow")

    path = build_tiny_model(Path(tempfile.mkdtemp()) / "m")
    torch.manual_seed(0)
    policy = HFPolicy(AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path),
                      max_new_tokens=4)
    n = 8
    out = {"num_envs": n, "env_step_s": delay, "steps_per_episode": n_steps}
    for label, workers in (("serial", 1), ("concurrent", n)):
        vec = ClawVectorEnv([SlowEnv for _ in range(n)], max_workers=workers)
        times = []
        for _ in range(2 if quick else 3):
            t0 = time.perf_counter()
            eps = collect_episodes(vec, policy, list(range(n)))
            times.append(time.perf_counter() - t0)
            assert sum(len(e) for e in eps) == n * n_steps
        vec.close()
        out[f"{label}_s"] = statistics.median(times)
    out["speedup"] = out["serial_s"] / out["concurrent_s"]
    out["target"] = 0.8 * n
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--worker", nargs=6)
    p.add_argument("--teacher-worker", nargs=5)
    a = p.parse_args()
    if a.teacher_worker:
        kind, model_dir, *nums = a.teacher_worker
        print(json.dumps(teacher_worker(kind, model_dir, *map(int, nums))))
        return
    if a.worker:
        kind, model_dir, *nums = a.worker
        print(json.dumps(step_worker(kind, model_dir, *map(int, nums))))
        return
    step = bench_step(a.quick)
    print(f"optimisation step  stock GRPOTrainer {step['stock_step_s'] * 1e3:.1f} ms, ClawTrainer "
          f"{step['claw_step_s'] * 1e3:.1f} ms  -> speed {step['speed_ratio']:.2f}x (target >= 1.0)")
    print(f"peak memory rise   stock {step['stock_peak_rise_mb']:.0f} MB, ClawTrainer {step['claw_peak_rise_mb']:.0f} MB"
          f"  -> memory {step['memory_ratio']:.2f}x (target <= 1.0)")
    teach = bench_teacher_memory(a.quick)
    print(f"teacher scoring    {teach['batch']} x {teach['tokens_per_row']} tokens, vocab 49152: full logits "
          f"{teach['naive_peak_rise_mb']:.0f} MB {teach['naive_s']:.2f} s, chunked {teach['chunked_peak_rise_mb']:.0f} MB "
          f"{teach['chunked_s']:.2f} s -> memory {teach['memory_ratio']:.2f}x, same log-probs: {teach['same_logprobs']}")
    roll = bench_rollouts(a.quick)
    print(f"slow-env rollouts  serial {roll['serial_s']:.2f} s, concurrent {roll['concurrent_s']:.2f} s for "
          f"{roll['num_envs']} envs -> {roll['speedup']:.2f}x (target >= {roll['target']:.1f}x)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"step": step, "teacher": teach, "rollouts": roll}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
