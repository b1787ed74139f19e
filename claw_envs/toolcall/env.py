"""claw/ToolCall-v0: the model solves a task by calling tools; each tool result is the next state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from claw_envs.core.actions import parse_action
from claw_envs.core.env import ClawEnv, no_unknown_kwargs, renamed
from claw_envs.core.errors import ConfigError, TaskError
from claw_envs.core.nextstate import NextState
from claw_envs.core.task import builtin_tasks_dir
from claw_envs.sandbox import SandboxConfig, make_sandbox
from claw_envs.toolcall.generator import generate
from claw_envs.toolcall.task import ToolTask, load_tool_tasks
from claw_envs.toolcall.tools import (
    Tool,
    ToolArgumentError,
    bash_tool,
    function_tool,
    python_tool,
    query_db_tool,
)
from claw_envs.toolcall.verifiers import last_boxed, verify_answer

INSTRUCTIONS = ("\n\nYou can call these tools: {tools}. Call a tool with <tool_call>{{\"name\": ..., "
                "\"arguments\": {{...}}}}</tool_call>. When you know the answer, reply with it in \\boxed{{...}}.")


# A system prompt with one worked example of each action format (``system_prompt="example"``): small models
# (SmolLM2-135M) follow a shown format far more often than a described one.
WORKED_EXAMPLE = (
    "You solve problems. Either call a tool, or give the final answer as \\boxed{number}.\n\n"
    "Example.\nUser: Sam has 4 apples, buys 3 more and gives away 2. How many apples are left?\n"
    "Assistant: 4 + 3 - 2 = 5. The answer is \\boxed{5}.\n\n"
    "Example with a tool.\nUser: What is 37 * 41?\n"
    "Assistant: <tool_call>{\"name\": \"python\", \"arguments\": {\"code\": \"print(37 * 41)\"}}</tool_call>\n"
    "Tool: 1517\nAssistant: The answer is \\boxed{1517}.")
SYSTEM_PROMPTS = {"example": WORKED_EXAMPLE}

# Worked examples as earlier chat turns (``examples=N``): a small chat model copies the format of its own
# previous replies more readily than one described or shown inside a system message. Each example is the
# question and the messages that answer it (the first one direct, the others through the python tool).
_CALL = '<tool_call>{{"name": "python", "arguments": {{"code": "print({expr})"}}}}</tool_call>'
EXAMPLE_TURNS: tuple[tuple[str, tuple[dict[str, str], ...]], ...] = (
    ("Sam has 4 apples, buys 3 more and gives away 2. How many apples are left?",
     ({"role": "assistant", "content": "4 + 3 - 2 = 5. The answer is \\boxed{5}."},)),
    ("Mia packs 16 boxes with 27 pens each. How many pens in total?",
     ({"role": "assistant", "content": _CALL.format(expr="16 * 27")}, {"role": "tool", "content": "432"},
      {"role": "assistant", "content": "The answer is \\boxed{432}."})),
    ("Leo shares 96 stickers equally among 8 friends. How many does each get?",
     ({"role": "assistant", "content": _CALL.format(expr="96 // 8")}, {"role": "tool", "content": "12"},
      {"role": "assistant", "content": "The answer is \\boxed{12}."})),
)


def shaped_wrong_reward(n_tool_calls: int) -> float:
    """OpenClaw-RL's tool-use shaping for a wrong answer: min(−0.6, −1 + (n_tool_calls − 2)·0.05)."""
    return min(-0.6, -1.0 + (n_tool_calls - 2) * 0.05)


class ToolCallEnv(ClawEnv):
    """Tool-calling episodes.

    Args:
        tasks: ``"builtin"`` or None (``tasks/toolcall``), ``"generated"`` (procedural problems), a path, or a
            list of ``ToolTask``.
        task_ids: restrict to these ids (not with ``"generated"``).
        difficulty: level 1..3 for generated problems.
        tools: extra tools: ``Tool`` objects or typed, documented Python functions (offered in every episode).
        answer_tool: name of a tool whose ``answer`` argument is the final answer (in addition to ``\\boxed``).
        max_steps: model turns per episode (default 16).
        max_parse_errors: malformed calls (bad JSON, unknown tool, bad arguments) that end the episode (3).
        shaping: OpenClaw-RL's tool-use shaping of wrong answers instead of a flat −1.
        action_timeout: seconds one python/bash tool call may run (10). Deprecated name: ``tool_timeout``.
        backend: where the python/bash tools run: ``local`` (bubblewrap) or ``docker``.
        system_prompt: a system message put before the task: the text itself, or ``"example"`` for the
            built-in one with a worked example of a ``\\boxed{}`` answer and of a tool call (``WORKED_EXAMPLE``).
        examples: this many worked examples (0..3, ``EXAMPLE_TURNS``) put before the task as earlier user and
            assistant turns, each user turn with the same instructions as the task.

    Reward: +1 for a verified answer, −1 otherwise (or the shaped value), given when the episode ends; 0 before.
    """

    kind = "tool"

    def __init__(self, tasks: str | Path | list[ToolTask] | None = None, task_ids: list[str] | None = None,
                 difficulty: int = 2, tools: list[Tool | Callable] | None = None, answer_tool: str | None = None,
                 max_steps: int = 16, max_parse_errors: int = 3, shaping: bool = False,
                 action_timeout: float | None = None, backend: str = "local",
                 sandbox: SandboxConfig | dict | None = None, db: str | Path | None = None,
                 system_prompt: str | None = None, examples: int = 0, render_mode: str | None = None,
                 **deprecated: Any):
        action_timeout = renamed("ToolCallEnv", deprecated, "tool_timeout", "action_timeout", action_timeout)
        no_unknown_kwargs("ToolCallEnv", deprecated)
        tasks = "builtin" if tasks is None else tasks
        action_timeout = 10.0 if action_timeout is None else float(action_timeout)
        super().__init__(render_mode=render_mode)
        if not 0 <= int(examples) <= len(EXAMPLE_TURNS):
            raise ConfigError(f"examples must be 0..{len(EXAMPLE_TURNS)} (worked examples before the task), "
                              f"got {examples!r}")
        self.examples = int(examples)
        self.system_prompt = SYSTEM_PROMPTS.get(system_prompt, system_prompt) if system_prompt else None
        self.generated = tasks == "generated"
        if self.generated:
            self.tasks: list[ToolTask] = []
        elif isinstance(tasks, list):
            self.tasks = tasks
        else:
            self.tasks = load_tool_tasks(builtin_tasks_dir("toolcall") if tasks == "builtin" else tasks)
        if self.generated:
            if task_ids is not None:
                raise ConfigError("task_ids= needs a task set; generated problems have none (pass tasks= a path "
                                  "or 'builtin', or reset with options={'task_id': ...} on such a set)")
            self._by_id: dict[str, ToolTask] = {}
        else:
            self.tasks, self._by_id = self._select_tasks(self.tasks, task_ids)
        self.difficulty = difficulty
        self.answer_tool = answer_tool
        self.max_steps, self.max_parse_errors, self.shaping = max_steps, max_parse_errors, shaping
        self.backend = backend
        self._sandbox_cfg = sandbox if isinstance(sandbox, SandboxConfig) else SandboxConfig(**(sandbox or {}))
        self._sandbox = None
        self._dirty = False
        db_path = Path(db) if db else builtin_tasks_dir("toolcall") / "db.json"
        self.action_timeout = action_timeout
        self.toolbox: dict[str, Tool] = {"python": python_tool(self._get_sandbox, action_timeout),
                                         "bash": bash_tool(self._get_sandbox, action_timeout)}
        if db_path.is_file():
            self.toolbox["query_db"] = query_db_tool(db_path)
        self.extra_tools = [t if isinstance(t, Tool) else function_tool(t) for t in (tools or [])]
        for t in self.extra_tools:
            self.toolbox[t.name] = t
        if answer_tool:
            def final_answer(answer: str) -> str:
                return "answer recorded"
            self.toolbox[answer_tool] = Tool(answer_tool, "Give your final answer.",
                                             {"type": "object", "properties": {"answer": {"type": "string"}},
                                              "required": ["answer"]}, final_answer)
        self.task: ToolTask | None = None
        self._done = True

    def _get_sandbox(self):
        if self._sandbox is None:
            self._sandbox = make_sandbox(self.backend, self._sandbox_cfg)
            self._sandbox.start()
        self._dirty = True
        return self._sandbox

    def episode_tools(self) -> list[Tool]:
        """Tools offered in the current episode (the task's, the extra ones, the answer tool)."""
        names = list(self.task.tools if self.task else ()) + [t.name for t in self.extra_tools]
        if self.answer_tool:
            names.append(self.answer_tool)
        missing = [n for n in names if n not in self.toolbox]
        if missing:
            raise TaskError(f"task {self.task.id if self.task else '?'} needs unknown tools {missing}; "
                            f"available: {sorted(self.toolbox)}")
        return [self.toolbox[n] for n in dict.fromkeys(names)]

    def offered_tools(self) -> list[Tool]:
        """Every tool some episode of this env can offer (what adapters expose as methods)."""
        names = ["python"] if self.generated else [n for t in self.tasks for n in t.tools]
        names += [t.name for t in self.extra_tools] + ([self.answer_tool] if self.answer_tool else [])
        return [self.toolbox[n] for n in dict.fromkeys(names) if n in self.toolbox]

    def tool_schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self.episode_tools()]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "task" in options:
            self.task = options["task"]
        elif self.generated and "task_id" not in options:
            self.task = generate(self.np_random, int(options.get("difficulty", self.difficulty)))
        else:
            self.task = self._choose_task(options, self.tasks, self._by_id)
        if self._dirty and self._sandbox is not None:
            self._sandbox.reset()
            self._dirty = False
        tools = self.episode_tools()
        self.steps = self.parse_errors = self.n_tool_calls = 0
        self._done = False
        instructions = INSTRUCTIONS.format(tools=", ".join(f"`{t.name}`" for t in tools))
        self.messages = ([{"role": "system", "content": self.system_prompt}] if self.system_prompt else [])
        for question, answer in EXAMPLE_TURNS[:self.examples]:
            self.messages += [{"role": "user", "content": question + instructions}, *(dict(m) for m in answer)]
        self.messages.append({"role": "user", "content": self.task.question + instructions})
        return self._observe(), {"task_id": self.task.id, "tools": self.tool_schemas(), "max_steps": self.max_steps,
                                 "backend": self.backend}

    def step(self, action: Any):
        if self._done:
            raise RuntimeError("step() called after the episode ended: call reset() first")
        parsed = parse_action(action)
        text = action.get("content") or "" if isinstance(action, dict) else str(action)
        msg: dict[str, Any] = {"role": "assistant", "content": text}
        if isinstance(action, dict) and action.get("tool_calls"):
            msg["tool_calls"] = action["tool_calls"]
        self.messages.append(msg)
        self.steps += 1
        answer, results, errors = None, [], list(parsed.errors)
        offered = {t.name: t for t in self.episode_tools()}
        for call in parsed.tool_calls:
            tool = offered.get(call.name)
            if tool is None:
                errors.append(f"unknown tool {call.name!r}; available: {list(offered)}")
                results.append({"id": call.id, "name": call.name, "content": f"Error: {errors[-1]}"})
                continue
            try:
                out = tool(**call.arguments)
                self.n_tool_calls += 1
                if call.name == self.answer_tool:
                    answer = str(call.arguments["answer"])
            except ToolArgumentError as e:
                errors.append(str(e))
                out = f"Error: {e}"
            results.append({"id": call.id, "name": call.name, "content": out})
        if parsed.errors:  # malformed calls get one error message (they have no id to answer)
            results.append({"id": None, "name": None, "content": "Error: " + "; ".join(parsed.errors)})
        if answer is None and not parsed.tool_calls:
            answer = last_boxed(parsed.text)
        if errors:
            self.parse_errors += len(errors)
        if answer is None and not results:
            self.parse_errors += 1
            results.append({"id": None, "name": None, "content": "No tool call and no \\boxed{} answer found. "
                            "Call a tool, or give the final answer as \\boxed{...}."})
        done_reason = None
        reward, extra = 0.0, {}
        if answer is not None:
            done_reason = "answered"
        elif self.parse_errors >= self.max_parse_errors:
            done_reason = "parse_errors"
        elif self.steps >= self.max_steps:
            done_reason = "max_steps"
        if done_reason is not None:
            correct = answer is not None and verify_answer(self.task.verifier, answer, self.task.answer,
                                                           self.task.tolerance)
            reward = 1.0 if correct else (shaped_wrong_reward(self.n_tool_calls) if self.shaping else -1.0)
            extra["outcome"] = {"score": reward, "success": correct, "answer": answer, "gold": self.task.answer, "correct": correct,
                                "tool_calls": self.n_tool_calls}
            self._done = True
        for r in results:
            self.messages.append({"role": "tool", "content": r["content"], "tool_call_id": r["id"] or ""}
                                 if r["id"] or r["name"] else {"role": "user", "content": r["content"]})
        text = "\n\n".join(r["content"] for r in results) if results else f"Final answer: {answer}"
        ns = NextState(role="tool" if parsed.tool_calls else "environment", kind="tool", text=text,
                       done_reason=done_reason, payload={"results": results, "errors": errors, "answer": answer})
        return (self._observe(), float(reward), done_reason in ("answered", "parse_errors"),
                done_reason == "max_steps", self._info(ns, task_id=self.task.id, step=self.steps, **extra))

    def outcome_if_stopped(self) -> float:
        """The reward of ending now without an answer (used by adapters when a rollout stops)."""
        return shaped_wrong_reward(self.n_tool_calls) if self.shaping else -1.0

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        super().close()


