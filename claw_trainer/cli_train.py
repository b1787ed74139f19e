"""``claw train``, ``claw eval`` and ``claw rollout``: the trainer's command line.

Each takes ``--config FILE`` plus any number of ``--section.key value`` overrides (see ``claw_trainer.config``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()


OVERRIDES_HELP = ("Any config key can be set on the command line as --section.key VALUE (values parse as YAML), "
                  "e.g. --env.num_envs 4 --train.steps 20 --judge.backend rules; see the README's config-key table.")


def _config(args: argparse.Namespace, adapt_groups: bool = False):
    """The run config: defaults <- ``--config`` (a relative path not in the working directory is read from the
    project) <- ``--section.key`` overrides. With ``adapt_groups`` (eval, rollout: no GRPO groups are formed)
    an ``env.group_size`` that does not divide ``env.num_envs`` is lowered to their greatest common divisor."""
    import math

    from claw_envs.core.errors import ConfigError
    from claw_envs.core.task import project_path
    from claw_trainer.config import load_config, parse_overrides

    path = project_path(args.config) if args.config else None
    try:
        return load_config(path, args.overrides)
    except ConfigError as e:
        if "must divide env.num_envs" not in str(e):
            raise
        cfg = load_config(path, [*args.overrides, "--env.group_size", "1"])
        given = parse_overrides(args.overrides).get("env", {})
        size = int(given.get("group_size") or load_config(path).env.group_size)
        fit = math.gcd(cfg.env.num_envs, size)
        if not adapt_groups:
            raise ConfigError(f"{e}: pass --env.group_size {fit} (episodes per task in a GRPO group; it must divide "
                              f"env.num_envs) or --env.num_envs {-(-cfg.env.num_envs // size) * size} "
                              "(a multiple of the group size)") from e
        cfg.env.group_size = fit
        console.print(f"[yellow]env.group_size {size} does not divide env.num_envs {cfg.env.num_envs}: using "
                      f"group size {fit}[/yellow]", highlight=False)
        return cfg


def _quiet() -> None:
    """Our progress bar and report say what matters; silence library progress bars and deprecation noise."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)


def cmd_train(args: argparse.Namespace) -> int:
    from claw_trainer.run import train

    cfg = _config(args)
    _quiet()
    console.print(f"[bold]claw train[/bold] {cfg.env.id} · {cfg.model.name} · loss {cfg.method.loss} · "
                  f"judge {cfg.judge.backend} / hints {cfg.judge.hint} · {cfg.train.steps} steps → "
                  f"{cfg.train.output_dir}")
    if args.async_:
        from claw_trainer.run import train_async

        summary = train_async(cfg, console=console)
    else:
        summary = train(cfg, resume=args.resume, console=console)
    console.print(f"done: {summary['steps']} steps in {summary['wall_s']:.0f} s; report: {summary['report']}")
    if summary.get("heldout"):
        _print_heldout(summary["heldout"])
    if args.json:
        print(json.dumps(summary))
    return 0


def _print_heldout(h: dict) -> None:
    table = Table("model", "sampling seed", f"mean {h['metric']}", "95% CI", title=f"held-out evaluation · "
                  f"{h['episodes']} episodes not used in training")
    for key in ("before", "noise", "after"):
        if key in h:
            e = h[key]
            table.add_row(e["label"], str(e["sample_seed"]), f"{e['mean']:.3f}",
                          f"{e['ci95'][0]:.3f}–{e['ci95'][1]:.3f}")
    console.print(table)
    console.print(("[bold green]" if h["verdict"]["exceeds_noise"] else "[bold yellow]") + h["verdict"]["sentence"])


def _policy(args: argparse.Namespace, cfg):
    if not args.base_url:
        return None
    from claw_trainer.policy.openai import OpenAIPolicy

    return OpenAIPolicy(args.base_url, model=args.served_model, max_tokens=cfg.train.max_new_tokens,
                        temperature=cfg.train.temperature)


def cmd_eval(args: argparse.Namespace) -> int:
    from claw_trainer.run import run_episodes, summarize

    cfg = _config(args, adapt_groups=True)
    _quiet()
    episodes = run_episodes(cfg, args.episodes, args.model, _policy(args, cfg), temperature=args.temperature)
    s = summarize(episodes)
    table = Table("episodes", "mean return", "success rate", "turns / episode",
                  title=f"{cfg.env.id} · {args.model or args.base_url or cfg.model.name}")
    table.add_row(str(s["episodes"]), f"{s['mean_return']:+.3f}", f"{s['success_rate']:.2f}", f"{s['mean_turns']:.2f}")
    console.print(table)
    if args.json:
        print(json.dumps(s))
    return 0


def cmd_rollout(args: argparse.Namespace) -> int:
    from claw_trainer.rollout import json_default
    from claw_trainer.run import run_episodes, summarize

    cfg = _config(args, adapt_groups=True)
    _quiet()
    if args.record:
        if cfg.env.id != "claw/GUI-v0":
            from claw_envs.core.errors import ConfigError

            raise ConfigError(f"--record saves screenshots of GUI episodes; {cfg.env.id} has none")
        cfg.env.kwargs.update(record_dir=args.record, record_format=args.record_format)
    episodes = run_episodes(cfg, args.episodes, args.model, _policy(args, cfg))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for ep in episodes:
            for t in ep:
                fh.write(json.dumps(t.to_json(), default=json_default) + "\n")
    s = summarize(episodes)
    console.print(f"wrote {sum(len(e) for e in episodes)} turns of {s['episodes']} episodes to {out} "
                  f"(mean return {s['mean_return']:+.3f})")
    return 0


def _scrub_policy(args: argparse.Namespace):
    from claw_trainer.serving.scrub import ScrubPolicy

    return ScrubPolicy(args.scrub_pii, frozenset(args.scrub_opt_out or ()))


def _api_keys(args: argparse.Namespace) -> list[str]:
    """--api-key values plus the whitespace-separated keys of CLAW_API_KEYS (not visible in `ps`)."""
    import os

    return list(args.api_key or []) + os.environ.get("CLAW_API_KEYS", "").split()


def cmd_serve(args: argparse.Namespace) -> int:
    from claw_trainer.serving.stack import ServeStack

    cfg = _config(args)
    _quiet()
    stack = ServeStack(cfg, learn=args.learn, host=args.host, port=args.port, default_turn_type=args.default_turn_type,
                       idle_timeout=args.idle_timeout, scrub_pii=_scrub_policy(args), max_staleness=args.max_staleness,
                       stale=args.stale, max_steps=args.max_steps, upstream=args.upstream,
                       upstream_model=args.upstream_model, upstream_api_key=args.upstream_api_key,
                       api_keys=_api_keys(args), api_keys_file=args.api_keys_file, max_batch=args.max_batch,
                       max_pending=args.max_pending, insecure=args.insecure, extra_hosts=tuple(args.allow_host or ()))
    mode = "serving and learning" if args.learn else "serving (recording sessions)"
    auth = "API keys required" if _api_keys(args) or args.api_keys_file else "no authentication (loopback only)"
    console.print(f"[bold]claw serve[/bold] {args.upstream or cfg.model.name} on http://{stack.host}:{stack.port}/v1 — {mode}; "
                  f"{auth}; turns → {cfg.train.output_dir}/turns.sqlite")
    stack.serve_forever()
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="YAML run config (e.g. configs/quickstart.yaml; a relative path not in the "
                       "working directory is read from the project); defaults apply without one")
        p.add_argument("--json", action="store_true", help="also print a JSON summary line")
        p.set_defaults(accepts_overrides=True)

    t = sub.add_parser("train", help="train a policy on env rollouts (Binary RL, OPD or both)",
                       description="claw train --config configs/quickstart.yaml [--section.key value ...]",
                       epilog=OVERRIDES_HELP)
    common(t)
    t.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in train.output_dir")
    t.add_argument("--async", dest="async_", action="store_true",
                   help="env hosting, judging, training and publishing as concurrent loops (resumes by itself)")
    t.set_defaults(fn=cmd_train)
    for name, fn, helptext in (("eval", cmd_eval, "mean return / success rate of a model on an env"),
                               ("rollout", cmd_rollout, "roll out episodes and write every turn as JSONL")):
        p = sub.add_parser(name, help=helptext, epilog=OVERRIDES_HELP,
                           description=f"claw {name} --config configs/X.yaml [--section.key value ...]: {helptext}")
        common(p)
        p.add_argument("--episodes", type=int, default=16)
        p.add_argument("--model", help="model spec or directory (e.g. runs/x/final); default: model.name")
        p.add_argument("--base-url", help="sample from an OpenAI-compatible server instead (e.g. claw serve-model)")
        p.add_argument("--served-model", default="default", help="model name sent to --base-url")
        if name == "eval":
            p.add_argument("--temperature", type=float, default=None, help="default: train.temperature")
        else:
            p.add_argument("--out", default="turns.jsonl")
            p.add_argument("--record", metavar="DIR", help="GUI-v0: save each episode's screenshots to DIR")
            p.add_argument("--record-format", default="gif", choices=["gif", "strip", "both"])
        p.set_defaults(fn=fn)
    from claw_trainer.serving.stack import LEARN_HELP

    s = sub.add_parser("serve", help="OpenAI-compatible proxy that records sessions; --learn trains on them live",
                       description="claw serve --config configs/X.yaml [--learn] [--section.key value ...]",
                       epilog=f"--learn: {LEARN_HELP}\n\n{OVERRIDES_HELP}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    common(s)
    s.add_argument("--learn", action="store_true",
                   help="run the judge, train and publish loops alongside serving (the minimal config: below)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000,
                   help="port (default 8000; serve-model uses 8001, env-server 8100, view 8765)")
    s.add_argument("--default-turn-type", default="main", choices=["main", "side"],
                   help="turn type for clients that send neither X-Turn-Type nor turn_type")
    s.add_argument("--idle-timeout", type=float, default=None,
                   help="seconds an awaiting turn waits for the user's reply before its session is closed "
                        "(default: 7 days; a later reply still becomes the next state of the turn it answers)")
    s.add_argument("--scrub-pii", action=argparse.BooleanOptionalAction, default=True,
                   help="redact e-mails, phone/card/ID numbers and API keys before storing (on by default)")
    s.add_argument("--scrub-opt-out", action="append", metavar="TENANT",
                   help="store this tenant's turns unredacted (the user's choice; repeatable)")
    s.add_argument("--max-staleness", type=int, default=4, help="policy versions a sample may lag behind")
    s.add_argument("--stale", default="drop", choices=["drop", "downweight"])
    s.add_argument("--max-steps", type=int, default=None, help="stop training after N steps (serving goes on)")
    s.add_argument("--upstream", metavar="URL", help="forward generation to an OpenAI-compatible server that returns "
                   "token ids and log-probs (claw serve-model, vLLM, SGLang), e.g. http://127.0.0.1:8001/v1")
    s.add_argument("--upstream-model", help="model name sent to --upstream (default: the client's)")
    s.add_argument("--upstream-api-key", help="bearer key for --upstream")
    s.add_argument("--api-key", action="append", metavar="KEY",
                   help="require this bearer key (repeatable; visible in `ps`: prefer --api-keys-file or the "
                        "CLAW_API_KEYS environment variable, whitespace-separated keys)")
    s.add_argument("--api-keys-file", metavar="FILE",
                   help="bearer keys, one 'KEY', 'TENANT KEY' or 'TENANT KEY +users' per line (+users: the key may "
                        "name end users with X-User)")
    s.add_argument("--insecure", action="store_true",
                   help="allow a non-loopback --host without API keys (anyone who reaches the port feeds training)")
    s.add_argument("--allow-host", action="append", metavar="NAME",
                   help="a Host name clients may use besides loopback and --host (repeatable)")
    s.add_argument("--max-batch", type=int, default=8, help="concurrent requests sampled in one generate call")
    s.add_argument("--max-pending", type=int, default=64, help="requests that may wait for the model; more get 429")
    s.set_defaults(fn=cmd_serve)
