"""claw/SWE-v0: fix a real bug in a repository; graded by SWE-bench's harness code in a fresh workspace."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from claw_envs.core.env import ClawEnv, no_unknown_kwargs, renamed
from claw_envs.core.errors import SandboxError, TaskError
from claw_envs.core.nextstate import NextState
from claw_envs.core.shell import TERMINATING, run_shell_turn
from claw_envs.core.task import builtin_tasks_dir
from claw_envs.sandbox import SandboxConfig, ShellSession, make_sandbox
from claw_envs.swe.grading import ROOT, EvalResult, evaluate_patch
from claw_envs.swe.instance import LazyInstances, SWEInstance, load_instances
from claw_envs.swe.workspace import materialize, prepare

PROTOCOL = (
    "\n\n---\nThe repository is checked out at {root}. Fix the issue above by editing the code (not the tests). "
    "Each reply runs exactly one bash command: put it in a ```bash fenced block, or call the `bash` tool with "
    "{{\"command\": ...}}. The working directory and exported variables persist. When you are done, reply "
    "`submit`: your changes (git diff) are then tested.")


class SWEEnv(ClawEnv):
    """SWE-bench-style episodes.

    Args:
        tasks: a folder of instance folders, a JSONL of SWE-bench rows, a list of ``SWEInstance``, or None
            for the built-in ``tasks/swe`` (deprecated name: ``instances``). A JSONL is loaded lazily
            (``LazyInstances``: byte offsets of its rows, one row parsed when an episode picks it).
        task_ids: restrict to these instance ids (deprecated name: ``instance_ids``).
        backend: sandbox backend, ``local`` (bubblewrap) or ``docker`` (SWE-bench's own images for its rows).
        max_steps: commands per episode (20). action_timeout: seconds one command may run (30; deprecated
            name: ``command_timeout``).
        eval_timeout: seconds for the test run at the end (300). max_parse_errors: consecutive (3).
        model_name: ``model_name_or_path`` written into predictions.

    ``reset(options={"task_id": ...})`` picks an instance by id (deprecated key: ``instance_id``); otherwise the
    seed does. On ``submit`` (or at ``max_steps``) the model patch is the ``git diff`` of the workspace against
    ``base_commit``; it is evaluated in a fresh workspace (model patch, test patch, eval script) and graded by
    ``swebench.harness.grading``. Reward +1 when resolved, −1 otherwise. ``info["outcome"]`` has the status
    (resolved, unresolved, patch_failed, timeout, infra_error), the FULL/PARTIAL/NO resolution, the
    FAIL_TO_PASS / PASS_TO_PASS fractions and the report; ``info["prediction"]`` the predictions row.
    """

    kind = "swe"

    def __init__(self, tasks: str | Path | list[SWEInstance] | None = None, task_ids: list[str] | None = None,
                 backend: str = "local", sandbox: SandboxConfig | dict | None = None, max_steps: int = 20,
                 action_timeout: float | None = None, eval_timeout: float = 300.0, max_parse_errors: int = 3,
                 model_name: str = "claw-gym", render_mode: str | None = None, **deprecated: Any):
        tasks = renamed("SWEEnv", deprecated, "instances", "tasks", tasks)
        task_ids = renamed("SWEEnv", deprecated, "instance_ids", "task_ids", task_ids)
        action_timeout = renamed("SWEEnv", deprecated, "command_timeout", "action_timeout", action_timeout)
        no_unknown_kwargs("SWEEnv", deprecated)
        super().__init__(render_mode=render_mode)
        src = builtin_tasks_dir("swe") if tasks is None else tasks
        if not isinstance(src, list) and Path(src).suffix == ".jsonl":
            # a dataset of thousands of rows: an index of byte offsets, one row parsed per reset
            self.instances = LazyInstances(src, only=task_ids)
            self._by_id = self.instances.by_id()
        else:
            self.instances = list(src) if isinstance(src, list) else load_instances(src)
            if task_ids is not None:
                known = {i.instance_id for i in self.instances}
                missing = sorted(set(task_ids) - known)
                if missing:
                    raise TaskError(f"unknown task ids {missing}; known: {sorted(known)}")
                self.instances = [i for i in self.instances if i.instance_id in set(task_ids)]
            self._by_id = {i.instance_id: i for i in self.instances}
        if not self.instances:
            raise TaskError("no SWE instances to run")
        self.tasks = self.instances
        self.action_timeout = 30.0 if action_timeout is None else float(action_timeout)
        cfg = sandbox if isinstance(sandbox, SandboxConfig) else SandboxConfig(**(sandbox or {}))
        self.config = replace(cfg, workdir=ROOT, writable={**cfg.writable, ROOT: "512m"}, timeout=self.action_timeout)
        self.backend = backend
        self.max_steps, self.eval_timeout, self.max_parse_errors = max_steps, eval_timeout, max_parse_errors
        self.model_name = model_name
        self._sandbox = None
        self.instance: SWEInstance | None = None
        self._done = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        if "instance_id" in options:
            options["task_id"] = renamed("SWEEnv.reset options", options, "instance_id", "task_id",
                                         options.get("task_id"))
        self.instance = inst = prepare(self._choose_task(options, self.instances, self._by_id))
        config = self.config
        if inst.source is None:  # a SWE-bench row: its repository lives in SWE-bench's image at /testbed
            if self.backend != "docker":
                raise TaskError(f"{inst.instance_id}: no local repository; rows from SWE-bench need the docker "
                                f"backend with SWE-bench's image {swebench_image(inst)}")
            config = replace(config, image=swebench_image(inst), writable={k: v for k, v in config.writable.items()
                                                                            if k != ROOT})
        if self._sandbox is None or self._sandbox.config.image != config.image:
            if self._sandbox is not None:
                self._sandbox.close()
            self._sandbox = make_sandbox(self.backend, config)
            self._sandbox.start()
        else:
            self._sandbox.reset()
        if inst.source is not None:
            materialize(self._sandbox, inst, ROOT)
        self.session = ShellSession(self._sandbox)
        self.steps = self.parse_errors = 0
        self._done = False
        self.messages = [{"role": "user", "content": inst.problem_statement.strip() + PROTOCOL.format(root=ROOT)}]
        return self._observe(), {"task_id": inst.instance_id, "instance_id": inst.instance_id,
                                 "base_commit": inst.base_commit, "max_steps": self.max_steps, "backend": self.backend}

    def model_patch(self) -> str:
        """The agent's changes as a patch against base_commit (new files included)."""
        r = self._sandbox.exec(f"git add -A && git diff --cached --binary {self.instance.base_commit}",
                               timeout=60, cwd=ROOT)
        if not r.ok:
            raise SandboxError(f"could not compute the model patch: {r.output.strip()[-300:]}")
        return r.stdout

    def step(self, action: Any):
        if self._done:
            raise RuntimeError("step() called after the episode ended: call reset() first")
        turn = run_shell_turn(self, action, self.config.timeout, "Submitted. Testing your patch.")
        done_reason = turn.done_reason
        reward, extra = 0.0, {}
        if done_reason is not None:
            try:
                patch = self.model_patch()
            except SandboxError:
                patch = ""
            ev = evaluate_patch(self._sandbox, self.instance, patch, self.eval_timeout, self.model_name)
            reward = 1.0 if ev.resolved else -1.0
            extra["outcome"] = {"score": reward, "success": ev.resolved, **_outcome(ev)}
            extra["prediction"] = {"instance_id": self.instance.instance_id,
                                   "model_name_or_path": self.model_name, "model_patch": patch}
            self._done = True
        ns = NextState(role="environment", kind="swe", text=turn.text,
                       exit_code=turn.result.exit_code if turn.result else None, done_reason=done_reason,
                       payload=turn.payload())
        self.messages.append(turn.reply())
        info = self._info(ns, task_id=self.instance.instance_id, instance_id=self.instance.instance_id,
                          step=self.steps, **extra)
        return self._observe(), reward, done_reason in TERMINATING, done_reason == "max_steps", info

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        super().close()


def swebench_image(inst: SWEInstance) -> str:
    """SWE-bench's evaluation image name for an instance (x86_64)."""
    return f"sweb.eval.x86_64.{inst.instance_id.lower()}:latest"


def _outcome(ev: EvalResult) -> dict[str, Any]:
    return {"status": ev.status, "resolved": ev.resolved, "resolution": ev.resolution,
            "FAIL_TO_PASS": ev.f2p, "PASS_TO_PASS": ev.p2p, "report": ev.report}


def write_predictions(path: str | Path, predictions: list[dict[str, Any]]) -> None:
    """A predictions JSONL the official SWE-bench harness can re-grade."""
    with open(path, "w") as f:
        for p in predictions:
            f.write(json.dumps({k: p[k] for k in ("instance_id", "model_name_or_path", "model_patch")}) + "\n")
