"""The env-side ``claw`` commands — ``envs``, ``tasks list|validate``, ``swe-validate``, ``demo``, ``judge-eval``,
``env-server`` — which need no trainer (``claw_envs`` never imports ``claw_trainer``).

``python -m claw_envs.cli ...`` runs them alone; the ``claw`` entry point (``claw_trainer.cli``) adds these
same parsers to its own, so every command works from ``claw``.

Adding a command:

* an argparse one: write ``add_<name>(sub)`` (add the parser, ``set_defaults(fn=...)``) and append it to
  ``PARSERS``;
* one with its own ``main(argv)``: one line in ``EXTERNAL``, e.g.
  ``("gui", "check"): ("claw_envs.gui.check:main", "check the GUI stack")`` — ``claw gui check ARGS`` then
  calls ``main(ARGS)``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

console = Console()


def cmd_envs(args: argparse.Namespace) -> int:
    import claw_envs

    table = Table("env id", "entry point")
    for env_id, entry in claw_envs.ENV_IDS.items():
        table.add_row(env_id, entry)
    console.print(table)
    return 0


def _tasks_path(path: str | None, family: str = "terminal") -> Path:
    from claw_envs.core.task import builtin_tasks_dir, project_path

    return project_path(path) if path else builtin_tasks_dir(family)


def cmd_tasks_list(args: argparse.Namespace) -> int:
    path = _tasks_path(args.path, args.family)
    if args.family == "toolcall":
        from claw_envs.toolcall.task import load_tool_tasks

        table = Table("id", "verifier", "tools", "tags", "oracle calls")
        tasks = load_tool_tasks(path)
        for t in tasks:
            table.add_row(t.id, t.verifier, ",".join(t.tools), ",".join(t.tags), str(len(t.oracle)))
    elif args.family == "gui":
        from claw_envs.gui.tasks import load_gui_tasks

        table = Table("id", "apps", "oracle actions")
        tasks = load_gui_tasks(path)
        for t in tasks:
            table.add_row(t.id, ",".join(t.extra.get("related_apps", [])), str(len(t.oracle)))
    else:
        from claw_envs.core.task import load_tasks

        table = Table("id", "format", "difficulty", "tags", "tests")
        tasks = load_tasks(path)
        for t in tasks:
            table.add_row(t.id, t.format, t.difficulty or "", ",".join(t.tags),
                          str(len(t.checks)) if t.checks else "test.sh")
    table.title = f"{len(tasks)} {args.family} tasks"
    console.print(table)
    return 0


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def cmd_tasks_validate(args: argparse.Namespace) -> int:
    path = _tasks_path(args.path, args.family)
    if args.family == "toolcall":
        from claw_envs.toolcall.env import ToolCallEnv
        from claw_envs.toolcall.validate import validate_tool_task as validate

        env = ToolCallEnv(tasks=path, backend=args.backend)
        columns = ("task", "oracle", "wrong answer", "ok", "problem")
        def row(v):
            return v.task_id, _fmt(v.oracle_reward), _fmt(v.wrong_reward)
    elif args.family == "gui":
        from claw_envs.gui.env import GUIEnv
        from claw_envs.gui.validate import validate_task as validate

        env = GUIEnv(tasks=path)
        columns = ("task", "null", "oracle", "ok", "problem")
        def row(v):
            return v.task_id, _fmt(v.null_score), _fmt(v.oracle_score)
    else:
        from claw_envs.terminal.env import TerminalEnv
        from claw_envs.terminal.validate import validate_task as validate

        env = TerminalEnv(tasks=path, backend=args.backend)
        columns = ("task", "null", "oracle", "ok", "problem")
        def row(v):
            return v.task_id, _fmt(v.null_score), _fmt(v.oracle_score)
    results = []
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task("validating", total=len(env.tasks))
        for t in env.tasks:
            results.append(validate(env, t.id))
            progress.advance(bar)
    env.close()
    table = Table(*columns)
    for v in results:
        table.add_row(*row(v), "✓" if v.ok else "✗", escape(v.error or ""))
    console.print(table)
    bad = [v.task_id for v in results if not v.ok]
    console.print(f"{len(results) - len(bad)}/{len(results)} tasks valid" + (f"; invalid: {bad}" if bad else ""))
    return 1 if bad else 0


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def cmd_swe_validate(args: argparse.Namespace) -> int:
    from claw_envs.swe.instance import load_instances
    from claw_envs.swe.validate import validate_instance

    insts = load_instances(_tasks_path(args.path, "swe"))
    results = []
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task("validating SWE instances", total=len(insts))
        for inst in insts:
            results.append(validate_instance(inst, backend=args.backend))
            progress.advance(bar)
    table = Table("instance", "gold resolves", "empty fails", "F2P fail before", "F2P pass after",
                  "P2P pass before", "problem")
    for v in results:
        table.add_row(v.instance_id, _mark(v.gold_resolved), _mark(not v.empty_resolved), _mark(v.f2p_fail_before),
                      _mark(v.f2p_pass_after), _mark(v.p2p_pass_before), escape(v.detail[:200]))
    console.print(table)
    bad = [v.instance_id for v in results if not v.ok]
    console.print(f"{len(results) - len(bad)}/{len(results)} instances valid" + (f"; invalid: {bad}" if bad else ""))
    return 1 if bad else 0


def cmd_demo(args: argparse.Namespace) -> int:
    """A Terminal-v0 episode driven by a scripted policy (look around, run the oracle, submit)."""
    import gymnasium as gym

    import claw_envs  # noqa: F401

    env = gym.make("claw/Terminal-v0", backend=args.backend)
    obs, info = env.reset(seed=args.seed, options={"task_id": args.task} if args.task else None)
    task = env.unwrapped.task
    console.print(Panel(Text(obs[0]["content"]), title=f"task {info['task_id']} (user)", border_style="cyan"))
    script = ["```bash\npwd && ls -la\n```", f"```bash\n{task.solution}\n```", "submit"]
    total = 0.0
    for action in script:
        obs, reward, terminated, truncated, info = env.step(action)
        ns = info["next_state"]
        total += reward
        console.print(Panel(Text(action), title="policy (assistant)", border_style="magenta"))
        console.print(Panel(Text(ns.text), title=f"next state ({ns.role}, exit {ns.exit_code}, reward {reward:g})",
                            border_style="green"))
        if terminated or truncated:
            break
    out = info.get("outcome", {})
    console.print(f"episode done ({ns.done_reason}): {out.get('passed')}/{out.get('total')} tests passed, "
                  f"return {total:g}")
    if args.json:
        print(json.dumps({"task_id": info["task_id"], "return": total, "outcome": out}))
    env.close()
    return 0 if total == 1.0 else 1


def cmd_judge_eval(args: argparse.Namespace) -> int:
    from claw_envs.core.task import project_path
    from claw_envs.prm import Judge, make_backend
    from claw_envs.prm.evaluate import CLASSES, evaluate_judge, load_cases

    cases = load_cases(project_path(args.cases))
    judge = Judge(make_backend(args.judge, model=args.model), mode="binary", m=args.m,
                  temperature=args.temperature, max_tokens=args.max_tokens, max_concurrency=args.concurrency,
                  batch_votes=True)
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task(f"judging with {args.judge}", total=len(cases))
        rep = evaluate_judge(judge, cases, progress=lambda: progress.advance(bar))
    table = Table("class", "precision", "recall", title=f"{args.judge} on {len(cases)} cases (m={args.m})")
    for c in CLASSES:
        table.add_row(f"{c:+d}", f"{rep.precision[c]:.2f}", f"{rep.recall[c]:.2f}")
    console.print(table)
    console.print(f"accuracy {rep.accuracy:.3f}   Cohen's kappa {rep.kappa:.3f}   invalid votes {rep.invalid_votes}"
                  f"/{len(cases) * args.m}   {rep.judgements_per_s:.2f} judgements/s")
    console.print("accuracy by kind: " + ", ".join(f"{k} {v:.2f}" for k, v in rep.by_kind.items()))
    if args.json:
        print(json.dumps({"judge": args.judge, "m": args.m, "n": rep.n, "accuracy": rep.accuracy,
                          "kappa": rep.kappa, "precision": rep.precision, "recall": rep.recall,
                          "by_kind": rep.by_kind, "invalid_votes": rep.invalid_votes,
                          "judgements_per_s": rep.judgements_per_s}))
    judge.close()
    return 0


def cmd_env_server(args: argparse.Namespace) -> int:
    from claw_envs.core.errors import ConfigError

    try:
        from claw_envs.remote.server import ServerConfig, serve
    except ImportError as e:
        raise ConfigError(f"claw env-server needs the [remote] extra ({e}): pip install 'claw-gym[remote]'") from e

    try:
        kwargs = json.loads(args.kwargs) if args.kwargs else {}
    except json.JSONDecodeError as e:
        raise ConfigError(f"--kwargs is not valid JSON ({e}); e.g. --kwargs '{{\"tasks\": \"generated\"}}'") from e
    if not isinstance(kwargs, dict):
        raise ConfigError("--kwargs must be a JSON object of env constructor arguments")
    from claw_envs.core.netguard import read_secret

    token = args.token or read_secret("CLAW_ENV_TOKEN", args.token_file)
    cfg = ServerConfig(env_id=args.env, env_kwargs=kwargs, host=args.host, port=args.port,
                       max_sessions=args.max_sessions, idle_ttl=args.idle_ttl, token=token, insecure=args.insecure,
                       allow_hosts=tuple(args.allow_host or ()))
    console.print(f"serving {cfg.env_id} on http://{cfg.host}:{cfg.port} (WS /ws; max {cfg.max_sessions} sessions, "
                  f"idle TTL {cfg.idle_ttl:g} s{', bearer token' if cfg.token else ''})", highlight=False)
    serve(cfg)
    return 0


ENV_SERVER_PORT = 8100


def add_envs(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("envs", help="list the registered env ids").set_defaults(fn=cmd_envs)


def add_tasks(sub: argparse._SubParsersAction) -> None:
    tasks = sub.add_parser("tasks", help="list or validate task sets").add_subparsers(dest="tasks_cmd", required=True)
    tl = tasks.add_parser("list", help="list the tasks in a folder (default: built-in terminal tasks)")
    tl.add_argument("path", nargs="?")
    tl.add_argument("--family", default="terminal", choices=["terminal", "toolcall", "gui"])
    tl.set_defaults(fn=cmd_tasks_list)
    tv = tasks.add_parser("validate", help="oracle passes / do-nothing fails, for every task")
    tv.add_argument("path", nargs="?")
    tv.add_argument("--family", default="terminal", choices=["terminal", "toolcall", "gui"])
    tv.add_argument("--backend", default="local", choices=["local", "docker"])
    tv.set_defaults(fn=cmd_tasks_validate)


def add_swe_validate(sub: argparse._SubParsersAction) -> None:
    sv = sub.add_parser("swe-validate", help="gold resolves / empty does not / F2P flips, for every SWE instance")
    sv.add_argument("path", nargs="?")
    sv.add_argument("--backend", default="local", choices=["local", "docker"])
    sv.set_defaults(fn=cmd_swe_validate)


def add_demo(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="run one Terminal-v0 episode with a scripted policy and print the trace")
    d.add_argument("--task", help="task id (default: chosen by --seed)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--backend", default="local", choices=["local", "docker"])
    d.add_argument("--json", action="store_true", help="also print a JSON summary line")
    d.set_defaults(fn=cmd_demo)


def add_judge_eval(sub: argparse._SubParsersAction) -> None:
    je = sub.add_parser("judge-eval", help="accuracy / precision / recall / kappa of a judge on labelled cases")
    je.add_argument("--judge", default="rules",
                    help="rules | hf:<model>[:constrained] (e.g. hf:smollm2:constrained) | http://host:port/v1")
    je.add_argument("--model", default="default", help="model name sent to an HTTP judge")
    je.add_argument("--cases", default="tasks/judge/cases.jsonl",
                    help="labelled cases (JSONL); a relative path not found in the working directory is read from "
                         "the project (default: the project's tasks/judge/cases.jsonl)")
    je.add_argument("--m", type=int, default=3, help="votes per case")
    je.add_argument("--temperature", type=float, default=0.7)
    je.add_argument("--max-tokens", type=int, default=128)
    je.add_argument("--concurrency", type=int, default=8)
    je.add_argument("--json", action="store_true")
    je.set_defaults(fn=cmd_judge_eval)


def add_env_server(sub: argparse._SubParsersAction) -> None:
    es = sub.add_parser("env-server", help="serve an env over OpenEnv's WebSocket/HTTP protocol (one env per session)")
    es.add_argument("--env", default="claw/Terminal-v0", help="env id (see `claw envs`)")
    es.add_argument("--kwargs", default="", help="env constructor arguments as a JSON object")
    es.add_argument("--host", default="127.0.0.1", help="address to bind (other machines: 0.0.0.0 with a token; refused without one)")
    es.add_argument("--port", type=int, default=ENV_SERVER_PORT,
                    help=f"port (default {ENV_SERVER_PORT}; claw serve uses 8000, serve-model 8001, view 8765)")
    es.add_argument("--max-sessions", type=int, default=8, help="concurrent sessions (envs); more get CAPACITY_REACHED")
    es.add_argument("--idle-ttl", type=float, default=600.0, help="close a session idle this many seconds (0 = never)")
    es.add_argument("--token", default=None, help="require `Authorization: Bearer TOKEN` from clients (visible in "
                    "`ps`: prefer --token-file or the CLAW_ENV_TOKEN environment variable)")
    es.add_argument("--token-file", metavar="FILE", help="read the token from FILE (mode 600)")
    es.add_argument("--insecure", action="store_true",
                    help="allow a non-loopback --host without a token (anyone who reaches it runs commands)")
    es.add_argument("--allow-host", action="append", metavar="NAME",
                    help="a Host name clients may use besides loopback and --host (repeatable)")
    es.set_defaults(fn=cmd_env_server)


PARSERS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_envs, add_tasks, add_swe_validate, add_demo, add_judge_eval, add_env_server,
]
# (command words) -> ("module:function taking argv", help); see the module docstring.
EXTERNAL: dict[tuple[str, ...], tuple[str, str]] = {
    ("images", "build"): ("claw_envs.sandbox.images:main", "build the docker backend's images offline (debootstrap "
                          "base + env_images/, cached by content)"),
    ("gui", "check"): ("claw_envs.gui.check:main", "reset + no-op + evaluate every OSWorld task file of a folder "
                       "on a local desktop: outcome table and coverage line"),
    ("gui", "fetch"): ("claw_envs.gui.fetch:main", "fill the GUI download cache for a folder of OSWorld tasks (once, online)"),
    ("swe", "build"): ("claw_envs.swe.build.cli:main", "SWE instances from a fix commit, a PyPI sdist or a repository "
                       "(--synthesize N bugs), validated in the sandbox: instances.jsonl + report.json"),
}


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add every env-side command to ``sub`` (also used by ``claw_trainer.cli``)."""
    for add in PARSERS:
        add(sub)
    groups: dict[str, argparse._SubParsersAction] = {}
    for words, (_, help_) in EXTERNAL.items():  # listed in --help; run by run_external before argparse
        if len(words) == 1:
            sub.add_parser(words[0], help=help_, add_help=False)
            continue
        if words[0] not in groups:
            groups[words[0]] = sub.add_parser(words[0], help=f"{words[0]} commands").add_subparsers()
        groups[words[0]].add_parser(" ".join(words[1:]), help=help_, add_help=False)


def run_external(argv: list[str]) -> int | None:
    """Run ``argv`` when it starts with an ``EXTERNAL`` command (its exit code), else None."""
    for words, (target, _) in sorted(EXTERNAL.items(), key=lambda kv: -len(kv[0])):
        if tuple(argv[:len(words)]) == words:
            module, _, fn = target.partition(":")
            return int(getattr(importlib.import_module(module), fn)(argv[len(words):]) or 0)
    return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="claw", description="claw-gym envs: agent environments with next-state signals")
    add_commands(p.add_subparsers(dest="command", required=True))
    return p


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; claw errors print as one red line and exit 2."""
    from claw_envs.core.errors import ClawError

    try:
        return args.fn(args)
    except ClawError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}")
        return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    code = run_external(argv)
    if code is not None:
        return code
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
