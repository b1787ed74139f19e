"""claw/Terminal-v0: an agent at a shell prompt inside a sandbox, scored by the task's tests."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claw_envs.core.env import ClawEnv, no_unknown_kwargs, renamed
from claw_envs.core.errors import ConfigError, SandboxError, TaskError
from claw_envs.core.nextstate import NextState
from claw_envs.core.shell import TERMINATING, run_shell_turn
from claw_envs.core.task import Task, builtin_tasks_dir, load_tasks
from claw_envs.sandbox import SandboxConfig, ShellSession, make_sandbox
from claw_envs.sandbox.base import ExecResult
from claw_envs.terminal import processes
from claw_envs.terminal.dockerfile import parse_dockerfile, replay

_REWARD_RE = re.compile(r"(\d+) passed|(\d+) failed|(\d+) error")

PROTOCOL = (
    "\n\n---\nYou are at a bash prompt in a sandbox (no network). Each reply runs exactly one command: put it "
    "in a ```bash fenced block, or call the `bash` tool with {\"command\": ...}. The working directory and "
    "exported variables persist between commands. When the task is complete, reply with `submit` "
    "(or call the `submit` tool).")


@dataclass(frozen=True)
class Outcome:
    """The task's test results at episode end."""

    passed: int
    total: int
    details: tuple[dict[str, Any], ...] = ()

    @property
    def pass_fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0

    @property
    def signed(self) -> float:
        """OpenClaw-RL's mapping of the pass fraction onto [-1, 1]: 2·(passed/total) − 1."""
        return 2.0 * self.pass_fraction - 1.0


class TerminalEnv(ClawEnv):
    """A terminal task per episode.

    Args:
        tasks: a task folder/file path, a list of ``Task``, or None for the built-in ``tasks/terminal``.
        task_ids: restrict to these ids.
        backend: sandbox backend, ``local`` (bubblewrap) or ``docker``.
        sandbox: ``SandboxConfig`` (or a dict of its fields) for limits and writable paths.
        max_steps: commands per episode (default 10; a task's own ``max_steps`` wins when this is None).
        action_timeout: seconds one command may run (default: the task's, else 30). Deprecated name:
            ``command_timeout``.
        eval_timeout: seconds for each of the task's tests at the end (default: the task's).
        reward: ``pass_fraction`` (tests passed / total, in [0, 1]) or ``signed`` (2·fraction − 1).
        max_parse_errors: consecutive unparsable actions that end the episode (default 3).
        agent_processes: ``kill`` (default): before the tests run, every process the agent started is killed
            (the task's own setup processes live on; :mod:`claw_envs.terminal.processes`), so a background
            process cannot rewrite what the tests check or the reward file they write. ``keep``: Harbor's own
            semantics (the verifier shares the container with whatever the agent left running), for tasks
            that test a service the agent must leave running; a hostile policy can then forge its reward.

    Episodes end (``terminated``) on a submit action or too many parse errors, and are ``truncated`` at
    ``max_steps``. Either way the task's tests run and give the reward; ``info["outcome"]`` has the pass
    fraction, the signed score and each test's result.
    """

    kind = "terminal"

    def __init__(self, tasks: str | Path | list[Task] | None = None, task_ids: list[str] | None = None,
                 backend: str = "local", sandbox: SandboxConfig | dict | None = None,
                 max_steps: int | None = None, action_timeout: float | None = None,
                 eval_timeout: float | None = None, reward: str = "pass_fraction", max_parse_errors: int = 3,
                 render_mode: str | None = None, agent_processes: str = "kill", **deprecated: Any):
        action_timeout = renamed("TerminalEnv", deprecated, "command_timeout", "action_timeout", action_timeout)
        no_unknown_kwargs("TerminalEnv", deprecated)
        super().__init__(render_mode=render_mode)
        if agent_processes not in ("kill", "keep"):
            raise ConfigError(f"agent_processes must be 'kill' or 'keep', got {agent_processes!r}")
        self.agent_processes = agent_processes
        self._task_processes: frozenset[str] = frozenset()
        self.agent_processes_killed = 0  # by the last evaluate()
        if reward not in ("pass_fraction", "signed"):
            raise ConfigError(f"reward must be 'pass_fraction' or 'signed', got {reward!r}")
        if tasks is None:
            tasks = builtin_tasks_dir("terminal")
        self.tasks = list(tasks) if isinstance(tasks, list) else load_tasks(tasks)
        self.tasks, self._by_id = self._select_tasks(self.tasks, task_ids)
        self.backend = backend
        cfg = sandbox if isinstance(sandbox, SandboxConfig) else SandboxConfig(**(sandbox or {}))
        self._base_config = cfg
        self._sandbox = None
        self._sandbox_key: tuple | None = None
        self.max_steps_override = max_steps
        self.action_timeout = action_timeout
        self.eval_timeout = eval_timeout
        self.reward_mode = reward
        self.max_parse_errors = max_parse_errors
        self.task: Task | None = None
        self._done = True

    # -- episode -----------------------------------------------------------------------------------
    def _config_for(self, task: Task) -> SandboxConfig:
        cfg = self._base_config
        extra = {}
        if task.format == "harbor" and task.dockerfile is not None:
            for step in parse_dockerfile(task.dockerfile.read_text()):
                if step.instruction in ("WORKDIR", "COPY", "ADD") and step.args:
                    dest = shlex.split(step.args)[-1] if step.instruction != "WORKDIR" else step.args
                    top = "/" + dest.strip("/").split("/")[0] if dest.startswith("/") else None
                    if top and top not in cfg.writable and top not in ("/usr", "/etc", "/run"):
                        extra[top] = "256m"
        if not extra:
            return cfg
        return SandboxConfig(**{**cfg.__dict__, "writable": {**cfg.writable, **extra}})

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.task = task = self._choose_task(options, self.tasks, self._by_id)
        cfg = self._config_for(task)
        key = (self.backend, tuple(sorted(cfg.writable.items())))
        if self._sandbox is None or key != self._sandbox_key:
            if self._sandbox is not None:
                self._sandbox.close()
            self._sandbox, self._sandbox_key = make_sandbox(self.backend, cfg), key
            self._sandbox.start()
        else:
            self._sandbox.reset()
        self.session = ShellSession(self._sandbox)
        self.workdir = cfg.workdir
        self._setup(task)
        self.steps = 0
        self.parse_errors = 0
        self._done = False
        self.max_steps = self.max_steps_override or task.max_steps or 10
        self.timeout = self.action_timeout or task.timeout or cfg.timeout
        self.messages = [{"role": "user", "content": task.instruction + PROTOCOL}]
        return self._observe(), {"task_id": task.id, "max_steps": self.max_steps, "backend": self.backend}

    def _setup(self, task: Task) -> None:
        sb = self._sandbox
        for path, content in task.files.items():
            sb.write_file(path, content)
        if task.dockerfile is not None:
            self.workdir = replay(task.dockerfile, sb, self.session)
        if task.setup:
            r = sb.exec(task.setup, timeout=max(task.test_timeout, 60), cwd=self.workdir)
            if not r.ok:
                raise TaskError(f"task {task.id}: setup failed with exit code {r.exit_code}"
                                f"{' (timed out)' if r.timed_out else ''}: {r.output.strip()[-800:]}")
        if self.workdir != self._sandbox.config.workdir:  # commands start in the config's workdir
            self.session.cd(self.workdir)
        if self.agent_processes == "kill":
            self._task_processes = processes.snapshot(sb)

    def step(self, action: Any):
        if self._done:
            raise RuntimeError("step() called after the episode ended: call reset() first")
        turn = run_shell_turn(self, action, self.timeout, "Submitted. Running the tests.")
        done_reason = turn.done_reason
        reward, extra = 0.0, {}
        if done_reason is not None:
            outcome = self.evaluate()
            reward = outcome.pass_fraction if self.reward_mode == "pass_fraction" else outcome.signed
            extra["outcome"] = {"score": reward, "success": outcome.total > 0 and outcome.passed == outcome.total,
                                "passed": outcome.passed, "total": outcome.total,
                                "pass_fraction": outcome.pass_fraction, "signed": outcome.signed,
                                "tests": list(outcome.details),
                                "agent_processes_killed": self.agent_processes_killed}
            self._done = True
        ns = NextState(role="environment", kind="terminal", text=turn.text,
                       exit_code=None if turn.result is None else turn.result.exit_code, done_reason=done_reason,
                       payload=turn.payload())
        self.messages.append(turn.reply())
        terminated = done_reason in TERMINATING
        truncated = done_reason == "max_steps"
        info = self._info(ns, task_id=self.task.id, step=self.steps, **extra)
        return self._observe(), float(reward), terminated, truncated, info

    # -- tests -------------------------------------------------------------------------------------
    def evaluate(self) -> Outcome:
        """Run the current task's tests in the sandbox (in a fresh shell, not the agent's session)."""
        task, sb = self.task, self._sandbox
        if task is None or sb is None:
            raise RuntimeError("evaluate() needs a reset() first")
        try:
            killed = processes.kill_new(sb, self._task_processes) if self.agent_processes == "kill" else 0
            self.agent_processes_killed = killed
            if task.format == "harbor":
                return self._evaluate_harbor(task, killed)
            details = []
            for c in task.checks:
                r = sb.exec(c.run, timeout=self.eval_timeout or task.test_timeout, cwd=self.workdir)
                details.append({"name": c.name, "passed": r.ok, "exit_code": r.exit_code,
                                "output": r.output[-500:]})
            return Outcome(sum(d["passed"] for d in details), len(details), tuple(details))
        except SandboxError as e:  # the agent broke the sandbox (killed it): the tests cannot pass
            total = max(len(task.checks), 1)
            return Outcome(0, total, ({"name": "sandbox", "passed": False, "output": str(e)},))

    def _evaluate_harbor(self, task: Task, killed: int = 0) -> Outcome:
        sb = self._sandbox
        sb.exec("rm -rf /tests/* /logs/verifier; mkdir -p /logs/verifier", timeout=30, cwd="/")
        for f in sorted(p for p in task.tests_dir.rglob("*") if p.is_file()):
            sb.write_file(f"/tests/{f.relative_to(task.tests_dir)}", f.read_bytes(), mode=f.stat().st_mode & 0o777)
        r = sb.exec("bash /tests/test.sh", timeout=self.eval_timeout or task.test_timeout, cwd=self.workdir)
        detail = {"name": "tests/test.sh", "exit_code": r.exit_code, "output": r.output[-2000:],
                  "agent_processes_killed": killed}
        try:
            value = float(sb.read_file("/logs/verifier/reward.txt").decode().strip())
            detail["passed"] = value >= 1.0
            return Outcome(round(value * 1000), 1000, (detail,)) if 0 <= value <= 1 else Outcome(0, 1, (detail,))
        except (SandboxError, ValueError):
            pass
        counts = {"passed": 0, "failed": 0}
        for m in _REWARD_RE.finditer(r.stdout):
            if m.group(1):
                counts["passed"] = int(m.group(1))
            else:
                counts["failed"] += int(m.group(2) or m.group(3))
        total = counts["passed"] + counts["failed"]
        detail["passed"] = r.ok
        if total:
            return Outcome(counts["passed"], total, (detail,))
        return Outcome(int(r.ok), 1, (detail,))

    def run_oracle(self) -> ExecResult:
        """Run the task's reference solution in the current episode's session (for validation)."""
        if self.task is None or not self.task.solution:
            raise TaskError(f"task {getattr(self.task, 'id', None)} has no solution")
        return self.session.run(self.task.solution, timeout=max(self.task.test_timeout, 120))

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        super().close()
