"""The ``claw`` command line: the env-side commands of :mod:`claw_envs.cli` (envs, tasks, demo, judge-eval,
env-server, ...) plus serve-model and train / eval / rollout / serve."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.markup import escape

console = Console()


def cmd_serve_model(args: argparse.Namespace) -> int:
    from claw_trainer.serve_model import serve

    serve(args.model, host=args.host, port=args.port, insecure=args.insecure)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="claw", description="claw-gym: agent environments with next-state signals")
    sub = p.add_subparsers(dest="command", required=True)
    from claw_envs.cli import add_commands

    add_commands(sub)  # envs, tasks, swe-validate, demo, judge-eval, env-server (no trainer needed)
    sm = sub.add_parser("serve-model", help="serve a local model with an OpenAI-compatible API")
    sm.add_argument("--model", default="smollm2", help="smollm2 or a local model directory")
    sm.add_argument("--host", default="127.0.0.1", help="address to bind; it has no authentication, so a "
                    "non-loopback address needs --insecure")
    sm.add_argument("--insecure", action="store_true", help="allow a non-loopback bind without authentication")
    sm.add_argument("--port", type=int, default=8001, help="port (default 8001; claw serve uses 8000, env-server 8100, view 8765)")
    sm.set_defaults(fn=cmd_serve_model)
    from claw_trainer.cli_train import add_parsers

    add_parsers(sub)
    from claw_trainer.view.commands import add_parsers as add_view_parsers

    add_view_parsers(sub)  # view, rollback
    from claw_trainer.openclaw_profile import add_parser as add_openclaw_profile

    add_openclaw_profile(sub)  # openclaw-profile
    return p


def main(argv: list[str] | None = None) -> int:
    from claw_envs.cli import run_external

    argv = list(sys.argv[1:] if argv is None else argv)
    code = run_external(argv)  # commands with their own main(argv), e.g. claw gui check
    if code is not None:
        return code
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = extra
    from claw_envs.core.errors import ClawError

    try:
        return args.fn(args)
    except ClawError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
