"""A persistent shell on top of any sandbox: cwd and exported variables survive from one step to the next.

Each command runs in a fresh ``bash`` inside the sandbox (so a timeout can kill it cleanly), framed by a
small wrapper: it first restores the state the previous command left in ``/run/claw/state``, runs the
command with ``eval`` at top level, and on exit (also on ``exit N``) writes back ``export -p`` and the
working directory. A command killed by its timeout keeps the state from before it. Plain (unexported)
shell variables, functions and aliases do not persist; export what should.
"""

from __future__ import annotations

from claw_envs.sandbox.base import ExecResult, Sandbox

STATE = "/run/claw/state"
_WRAPPER = f"""[ -r {STATE} ] && . {STATE} 2>/dev/null
__claw_cmd=$CLAW_CMD; unset CLAW_CMD
trap '{{ export -p; printf "cd -- %q 2>/dev/null\\n" "$PWD"; }} > {STATE} 2>/dev/null' EXIT
eval "$__claw_cmd"
"""


class ShellSession:
    """A terminal-like session in ``sandbox`` (which must be started)."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox

    def run(self, cmd: str, timeout: float | None = None) -> ExecResult:
        """Run ``cmd`` as if typed at the session's prompt."""
        return self.sandbox.exec(_WRAPPER, timeout, env={"CLAW_CMD": cmd})

    def export(self, name: str, value: str) -> None:
        """Set an exported variable for the rest of the session."""
        if not name.isidentifier():
            raise ValueError(f"not a valid variable name: {name!r}")
        self.run(f"export {name}={_quote(value)}")

    def cd(self, path: str) -> ExecResult:
        return self.run(f"cd -- {_quote(path)}")


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"
