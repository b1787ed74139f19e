"""``claw view`` and ``claw rollback``: look at a run, and steer what a running server serves."""

from __future__ import annotations

import argparse

from rich.console import Console

console = Console()


def cmd_view(args: argparse.Namespace) -> int:
    from claw_envs.core.netguard import read_secret
    from claw_trainer.view.runs import discover
    from claw_trainer.view.server import ViewServer

    runs = discover(args.runs, screens=args.screens, model=args.model)
    token = read_secret("CLAW_VIEW_TOKEN", args.token_file)
    server = ViewServer(runs, args.host, args.port, token=token, insecure=args.insecure,
                        extra_hosts=tuple(args.allow_host or ()))
    console.print(f"[bold]claw view[/bold] {len(runs)} run(s): {', '.join(r.name for r in runs)} → {server.url}")
    server.serve_forever()
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from pathlib import Path

    from claw_trainer.gate import request_rollback

    root = Path(args.run) / "versions" if (Path(args.run) / "versions").is_dir() else Path(args.run)
    how, body = request_rollback(root, args.to, args.url)
    if how == "server":
        console.print(f"serving v{body['served_version']} now (kept versions: {body['kept_versions']})")
    else:
        console.print(f"no server answered: v{body['served']} will be served at the next start of this run")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("view", help="a local web page over runs: turns, tokens, rewards, votes, gate decisions",
                       description="claw view RUN [RUN ...]: RUN is a run folder, a folder of runs (runs/), "
                                   "a turns.jsonl or a turns.sqlite")
    v.add_argument("runs", nargs="+", metavar="RUN")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8765)
    v.add_argument("--token-file", help="a file (mode 600) holding the token every client must send; or set "
                                        "CLAW_VIEW_TOKEN. Required to bind beyond loopback")
    v.add_argument("--allow-host", action="append", metavar="NAME",
                   help="a Host name to answer to besides loopback and --host (repeatable)")
    v.add_argument("--insecure", action="store_true",
                   help="allow a non-loopback bind without a token (anyone who reaches the port sees the run)")
    v.add_argument("--screens", help="GUI screenshots recorded by `claw rollout --record DIR` (default: RUN/record)")
    v.add_argument("--model", help="tokenizer for runs without config.json: tiny, smollm2 or a model directory")
    v.set_defaults(fn=cmd_view)
    r = sub.add_parser("rollback", help="serve a kept earlier version (through the running server's admin API)")
    r.add_argument("--to", type=int, required=True, metavar="VERSION")
    r.add_argument("--run", default="runs/claw", help="the served run's output_dir (holds versions/)")
    r.add_argument("--url", help="the server's base URL (default: versions/server.json)")
    r.set_defaults(fn=cmd_rollback)
