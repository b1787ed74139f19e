"""Build a run from a :class:`~claw_trainer.config.RunConfig`: model, envs (+ judge), trainer; train/eval/rollout.

These are the functions behind ``claw train``, ``claw eval`` and ``claw rollout``; each is usable from Python.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym

from claw_envs.core.errors import ConfigError
from claw_trainer.config import RunConfig


def write_run_config(out: Path, cfg: Any) -> Path:
    """``out/config.json``: the run's config with its secrets (tokens, keys, passwords) redacted — a run folder
    is shared and served by ``claw view``, so no secret is ever written there."""
    from claw_envs.core.netguard import redact

    path = out / "config.json"
    path.write_text(json.dumps(redact(cfg.to_dict()), indent=1))
    return path


def make_judges(cfg: RunConfig) -> tuple[Any, Any]:
    """(process judge or None, hint judge or None) from ``cfg.judge``; backends are shared by every sub-env."""
    from claw_envs.prm.backends import make_backend
    from claw_envs.prm.judge import Judge

    j = cfg.judge
    backends: dict[str, Any] = {}

    def backend(spec: str) -> Any:
        if spec not in backends:
            backends[spec] = make_backend(spec)
        return backends[spec]

    judge = Judge(backend(j.backend), mode="binary", m=j.m, timeout=j.timeout) if j.backend != "none" else None
    hint = Judge(backend(j.hint), mode="hint", m=j.m, timeout=j.timeout) if j.hint != "none" else None
    return judge, hint


def make_vec_env(cfg: RunConfig, judges: tuple[Any, Any] | None = None) -> Any:
    """``cfg.env.num_envs`` envs (PRM-wrapped when a judge or hint source is configured) stepped concurrently."""
    import claw_envs  # noqa: F401  (registers the ids)
    from claw_envs.hosting import env_factories
    from claw_envs.prm.wrapper import PRMReward
    from claw_envs.vector import ClawVectorEnv

    if cfg.env.id not in gym.registry:
        raise ConfigError(f"env.id {cfg.env.id!r} is not registered; known: "
                          f"{sorted(k for k in gym.registry if k.startswith('claw/'))}")
    judge, hint = judges if judges is not None else make_judges(cfg)
    e = cfg.env  # env.hosting picks where sub-envs run: threads here, Ray actors, or env servers
    makers = env_factories(e.id, e.kwargs, e.num_envs, e.hosting, ray_address=e.ray_address,
                           remote_urls=e.remote_urls, remote_token=e.remote_token or None, step_timeout=e.step_timeout,
                           ray_actor_options=e.ray_actor_options or None)

    def wrapped(make: Any) -> Any:
        def factory() -> gym.Env:
            env = make()
            if judge is None and hint is None:
                return env
            # a hint-only run records hints, no votes: its turns are scored by the env's outcome
            return PRMReward(env, judge, coef=cfg.judge.coef, hint_judge=hint)
        return factory

    return ClawVectorEnv([wrapped(m) for m in makers], max_workers=cfg.env.max_workers or None,
                         step_timeout=cfg.env.step_timeout + (30 if e.hosting != "local" else 0))


def precision_flags(dtype: str) -> dict[str, bool]:
    """``train.dtype`` -> transformers' mixed-precision flags (weights stay fp32; compute in the given type)."""
    import torch

    if dtype == "auto":
        dtype = "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float32"
    return {"bf16": dtype == "bfloat16", "fp16": dtype == "float16"}


def report_targets(names: list[str]) -> list[str]:
    """The ``train.report_to`` integrations that are installed; the others are skipped with a warning."""
    import logging

    out = []
    for name in names:
        if name in ("none", ""):
            continue
        if _has(name):  # each integration's name is its module's
            out.append(name)
        else:
            logging.getLogger("claw_trainer").warning("train.report_to: %s is not installed; skipped", name)
    return out


def grpo_args(cfg: RunConfig, output_dir: str | Path) -> Any:
    import torch
    from trl import GRPOConfig

    t = cfg.train
    return GRPOConfig(
        output_dir=str(output_dir), per_device_train_batch_size=t.micro_batch_size,
        gradient_accumulation_steps=t.batch_size // t.micro_batch_size, num_generations=2,
        max_steps=t.steps, learning_rate=t.lr, temperature=t.temperature if t.temperature > 0 else 1.0, beta=0.0,
        max_completion_length=t.max_new_tokens, logging_steps=1, save_strategy="steps",
        use_vllm=t.vllm != "off", vllm_mode=t.vllm if t.vllm != "off" else "colocate",
        save_steps=t.save_every or t.steps, seed=t.seed, report_to=report_targets(t.report_to),
        use_cpu=not torch.cuda.is_available(), **precision_flags(t.dtype), disable_tqdm=True,
        gradient_checkpointing=t.gradient_checkpointing, log_completions=False, save_only_model=False,
        lr_scheduler_type=t.lr_scheduler, warmup_steps=t.warmup_steps, max_grad_norm=t.max_grad_norm,
        weight_decay=t.weight_decay)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def build_trainer(cfg: RunConfig, output_dir: Path, callbacks: list | None = None, store: Any = None) -> Any:
    """The sync driver: model, envs and a :class:`ClawTrainer` queueing its samples in ``store`` (an open
    :class:`~claw_trainer.store.TurnStore`; by default ``output_dir/turns.sqlite`` is opened here)."""
    from claw_trainer.buffer import RolloutBuffer
    from claw_trainer.models import load_for_training
    from claw_trainer.source import EnvRollouts
    from claw_trainer.trainer import ClawTrainer

    model, tok = load_for_training(cfg.model.name, cfg.train.dtype, cache_dir=cfg.model.cache_dir)
    peft_config = None
    if cfg.model.lora_r > 0:
        from peft import LoraConfig

        peft_config = LoraConfig(r=cfg.model.lora_r, lora_alpha=cfg.model.lora_alpha, task_type="CAUSAL_LM",
                                 target_modules=cfg.model.lora_target_modules)
    vec = make_vec_env(cfg)
    rollouts = EnvRollouts(vec, tok, cfg.method.loss, cfg.env.group_size, cfg.method.group_norm,
                           cfg.train.max_new_tokens, cfg.train.temperature, cfg.train.seed, cfg.env.id,
                           cfg.train.max_prompt_tokens)
    buffer = RolloutBuffer(store if store is not None else output_dir / "turns.sqlite")
    trainer = ClawTrainer(model, tok, grpo_args(cfg, output_dir), cfg.method, rollouts, buffer,
                          peft_config=peft_config, callbacks=callbacks, max_rounds=cfg.train.max_rounds)
    if callbacks:  # our progress bar replaces transformers' printed log dicts
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return trainer


def latest_checkpoint(output_dir: Path) -> Path | None:
    ckpts = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return ckpts[-1] if ckpts else None


def train(cfg: RunConfig, resume: bool = False, console: Any = None) -> dict[str, Any]:
    """Train per ``cfg``; returns a summary and writes metrics.jsonl, the report and the final model.

    Kept samples are queued in ``output_dir/turns.sqlite`` (:mod:`claw_trainer.store`), whose single-writer lock
    is taken first: a second ``claw train`` on the same folder fails at once, naming the holder's pid."""
    from claw_trainer.progress import ClawProgress
    from claw_trainer.report import write_report
    from claw_trainer.store import TurnStore

    out = Path(cfg.train.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = TurnStore(out / "turns.sqlite")  # the single-writer lock first: a second `claw train` stops here
    try:  # until the trainer owns the store, close it (releasing the lock) on any failure
        ckpt = latest_checkpoint(out)
        if resume:
            if (out / "turns.jsonl").exists():
                raise ConfigError(f"{out} was written by an older claw-gym (a turns.jsonl journal): resume it with "
                                  "that version, or start a new run in another train.output_dir")
            if ckpt is None:
                raise ConfigError(f"--resume: no checkpoint-* folder in {out}")
        elif (out / "turns.jsonl").exists() or ckpt is not None or any(store.counts().values()):
            raise ConfigError(f"{out} already holds a run: pass --resume to continue it, or choose another "
                              "train.output_dir")
        write_run_config(out, cfg)
        progress = ClawProgress(out / "metrics.jsonl", console=console)
        t0 = time.time()
        trainer = build_trainer(cfg, out, callbacks=[progress], store=store)
    except BaseException:
        store.close()
        raise
    heldout = None
    try:
        if cfg.eval.episodes:  # the starting weights: a checkpoint is only loaded inside trainer.train()
            from claw_trainer.heldout import HeldOutRun

            heldout = HeldOutRun(cfg, out, log=console.print if console is not None else print)
            heldout.before(trainer.model, trainer.processing_class)
        trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
        trainer.save_model(str(out / "final"))
        trainer.processing_class.save_pretrained(str(out / "final"))
        pending, consumed = len(trainer.buffer), trainer.buffer.consumed
    finally:
        trainer.rollouts.vec_env.close()
        trainer.buffer.close()  # releases the writer lock
    summary = {"output_dir": str(out), "steps": trainer.state.global_step, "wall_s": time.time() - t0,
               "resumed_from": str(ckpt) if ckpt else None, "pending_samples": pending,
               "consumed_samples": consumed}
    if heldout is not None:
        from claw_trainer.heldout import train_task_ids

        summary["heldout"] = heldout.after(trainer.model, trainer.processing_class, train_task_ids(out))
        summary["wall_s"] = time.time() - t0
    summary["report"] = str(write_report(out, cfg, summary))
    return summary


def train_async(cfg: RunConfig, console: Any = None, max_staleness: int = 4, stale: str = "drop") -> dict[str, Any]:
    """``claw train --async``: env hosting, judging, training and weight publishing as four concurrent loops."""
    import copy

    from rich.progress import Progress

    from claw_trainer.async_loops import AsyncLoops
    from claw_trainer.env_producer import EnvProducer
    from claw_trainer.learner import Learner
    from claw_trainer.models import load_for_training
    from claw_trainer.report import write_report
    from claw_trainer.serving.policy import ServedPolicy
    from claw_trainer.store import TurnStore

    out = Path(cfg.train.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = TurnStore(out / "turns.sqlite")  # the single-writer lock before anything is written or loaded
    write_run_config(out, cfg)
    model, tok = load_for_training(cfg.model.name, cfg.train.dtype, cache_dir=cfg.model.cache_dir)
    served = ServedPolicy(copy.deepcopy(model), tok, cfg.train.max_new_tokens, cfg.train.temperature)
    learner = Learner.from_config(model, tok, cfg, max_staleness, stale)
    judge, hint = make_judges(cfg)
    metrics_path = out / "metrics.jsonl"
    t0 = time.time()

    def log(m: dict[str, Any]) -> None:
        with metrics_path.open("a") as fh:
            fh.write(json.dumps({**m, "policy_loss": m["loss"], "time_s": round(time.time() - t0, 3)}) + "\n")

    loops = AsyncLoops(store, served, learner, judge, hint, cfg.train.batch_size, checkpoint=out / "learner.pt",
                       max_steps=cfg.train.steps, on_step=log)
    vec = make_vec_env(cfg, judges=(None, None))  # judging happens in the judge loop, not in env.step
    producer = EnvProducer(vec, served, store, loops.notify, cfg.env.group_size, cfg.train.seed, cfg.env.id,
                           health=loops.health)
    loops.start()
    producer.start()
    try:
        with Progress(console=console, transient=False) as progress:
            bar = progress.add_task("async train", total=cfg.train.steps, completed=learner.step)
            while learner.step < cfg.train.steps:
                time.sleep(0.2)
                loops.raise_if_dead()  # a dead loop (env, judge, train, publish) fails the run loudly
                last = loops.history[-1] if loops.history else {}
                warning = loops.signal_snapshot()["warning"]
                progress.update(bar, completed=learner.step, description=(
                    f"reward {last.get('reward', 0):+.3f} loss {last.get('loss', 0):+.4f} "
                    f"v{served.version} stale {last.get('staleness', 0):.1f}" + (f" — {warning}" if warning else "")))
    finally:
        producer.stop()
        loops.stop()
        vec.close()
    learner.model.save_pretrained(out / "final")  # LoRA: the adapter
    tok.save_pretrained(out / "final")
    summary = {"output_dir": str(out), "steps": learner.step, "wall_s": time.time() - t0, "mode": "async",
               "store": store.counts(), "stats": dict(loops.stats), "signal": loops.signal_snapshot(),
               "consumed_samples": loops.stats["trained"],
               "pending_samples": store.counts().get("judged", 0)}
    store.close()
    summary["report"] = str(write_report(out, cfg, summary))
    return summary


def run_episodes(cfg: RunConfig, episodes: int, model_path: str | None = None, policy: Any = None,
                 temperature: float | None = None) -> list[list[Any]]:
    """Roll out ``episodes`` episodes (in rounds of ``env.num_envs``) with a model or an external policy."""
    from claw_trainer.models import load_model
    from claw_trainer.policy.hf import HFPolicy
    from claw_trainer.rollout import collect_episodes

    if policy is None:
        model, tok = load_model(model_path or cfg.model.name, cache_dir=cfg.model.cache_dir)
        policy = HFPolicy(model, tok, cfg.train.max_new_tokens,
                          cfg.train.temperature if temperature is None else temperature)
    vec = make_vec_env(cfg)
    n = vec.num_envs
    done: list[list[Any]] = []
    try:
        for r in range((episodes + n - 1) // n):
            seeds = [cfg.train.seed * 7919 + r * n + i for i in range(n)]
            done += collect_episodes(vec, policy, seeds, cfg.env.id, first_episode=len(done))
    finally:
        vec.close()
    return done[:episodes]


def summarize(episodes: list[list[Any]]) -> dict[str, float]:
    from claw_trainer.credit import episode_return

    returns = [episode_return(ep) for ep in episodes]
    n = max(len(returns), 1)
    return {"episodes": len(returns), "mean_return": sum(returns) / n,
            "success_rate": sum(r > 0 for r in returns) / n,
            "mean_turns": sum(len(ep) for ep in episodes) / n}
