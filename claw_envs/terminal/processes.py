"""The agent's processes, told apart from the task's, so none of them is alive while the tests run.

A command the agent ran can leave a background process behind (``(while :; do echo 1 > reward; done) &``).
If it were still running while the tests ran, it could rewrite what they check or the reward file the
verifier writes (``/logs/verifier/reward.txt`` in a Harbor task) after the verifier wrote it. So the env
takes a :func:`snapshot` of the sandbox's processes when the task's setup has finished (the task's own
services, e.g. processes a task asks the agent to inspect, are in it) and, before the tests, :func:`kill_new`
kills every process that is not in the snapshot. Processes are identified by pid *and* start time, so a
reused pid does not pass for a task process. The snapshot lives on the host; the agent cannot edit it.

Both run as a command inside the sandbox (any backend): the killing command keeps itself, its ancestors
(the backend's command runner) and pid 1, and makes three passes so a process forked during a pass is
caught by the next (the sandbox's process cap bounds a fork loop).
"""

from __future__ import annotations

from claw_envs.core.errors import SandboxError
from claw_envs.sandbox.base import Sandbox

# "<pid>:<start time>" of every process; fields after the ")" that ends the command name: the state is the
# 1st, the parent pid the 2nd, the start time the 20th (field 22 of /proc/PID/stat). Builtins only: no fork.
_LIST = r"""
__claw_ident() { local s; read -r s 2>/dev/null < "$1/stat" || return 1; s=${s##*) }; set -- $s
  __claw_ppid=$2; __claw_start=${20}; }
"""
SNAPSHOT = _LIST + r"""
for d in /proc/[0-9]*; do __claw_ident "$d" && echo "${d#/proc/}:$__claw_start"; done
"""
KILL_NEW = _LIST + r"""
keep=" $(tr '\n' ' ') "
case "$keep" in *:*) ;; *) echo "no process snapshot on stdin" >&2; exit 2 ;; esac
anc=" 1 $$ "; p=$$
while [ "${p:-0}" -gt 1 ] && [ -r "/proc/$p/stat" ]; do __claw_ident "/proc/$p" || break; p=$__claw_ppid; anc="$anc$p "; done
killed=0; dead=" "
for pass in 1 2 3; do
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    case "$anc" in *" $pid "*) continue ;; esac
    __claw_ident "$d" || continue
    case "$keep$dead" in *" $pid:$__claw_start "*) continue ;; esac
    kill -9 "$pid" 2>/dev/null && killed=$((killed + 1)) && dead="$dead$pid:$__claw_start "
  done
done
echo "$killed"
"""


def snapshot(sandbox: Sandbox) -> frozenset[str]:
    """The ``pid:start-time`` of every process in the sandbox now (taken after the task's setup)."""
    r = sandbox.exec(SNAPSHOT, timeout=30, cwd="/")
    return frozenset(x for x in r.stdout.split() if ":" in x)


def kill_new(sandbox: Sandbox, keep: frozenset[str]) -> int:
    """Kill every process in the sandbox that is not in ``keep``; returns how many processes it killed."""
    r = sandbox.exec(KILL_NEW, timeout=30, cwd="/", stdin="\n".join(sorted(keep)).encode())
    lines = r.stdout.split()
    if not r.ok or not lines or not lines[-1].isdigit():
        raise SandboxError(f"could not stop the agent's processes before the tests (exit {r.exit_code}): "
                           f"{r.output.strip()[-300:]}")
    return int(lines[-1])
