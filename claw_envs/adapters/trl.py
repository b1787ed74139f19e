"""TRL adapter: any claw env as an ``environment_factory`` for ``trl.GRPOTrainer``.

TRL turns the public methods of the environment object into tools, calls ``reset(**row)`` before each
rollout (the returned text is appended to the prompt) and ``get_reward()`` after it. Here:

* ``reset`` resets the claw env (``task_id`` from the dataset row when present, else a seed) and returns
  the task's instruction;
* every tool the env accepts becomes a method (``bash``/``submit`` for Terminal-v0; the toolbox and a
  ``final_answer`` tool for ToolCall-v0) that steps the env with an OpenAI-style tool call and returns the
  next-state text;
* ``get_reward`` returns the outcome reward, ending the episode first if the model stopped early.

    from trl import GRPOConfig, GRPOTrainer
    from claw_envs.adapters.trl import environment_factory
    args = GRPOConfig(max_steps=10, use_cpu=True, bf16=False, ...)   # on a CPU; GRPOConfig defaults to bf16
    trainer = GRPOTrainer(model=model, processing_class=tok, args=args,
                          environment_factory=environment_factory("claw/ToolCall-v0", tasks="generated"))
    trainer.train()

(the README's "With TRL" example is complete and runs in the test suite).
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Callable
from typing import Any

_PY = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list, "object": dict}
_TERMINAL_TOOLS = [
    {"name": "bash", "description": "Run one bash command in the task's sandbox and return its output.",
     "parameters": {"type": "object", "properties": {"command": {"type": "string", "description":
                    "the command to run"}}, "required": ["command"]}},
    {"name": "submit", "description": "Finish the task and run its tests.",
     "parameters": {"type": "object", "properties": {}, "required": []}},
]


def _tool_specs(env: Any) -> list[dict[str, Any]]:
    if hasattr(env, "offered_tools"):
        return [t.schema()["function"] for t in env.offered_tools()]
    if getattr(env, "kind", None) == "terminal":
        return _TERMINAL_TOOLS
    raise TypeError(f"{type(env).__name__} exposes no tools for the TRL adapter")


def _method(name: str, spec: dict[str, Any]) -> Callable[..., str]:
    props = spec.get("parameters", {}).get("properties", {})
    required = set(spec.get("parameters", {}).get("required", []))

    def call(self, **kwargs: Any) -> str:
        return self._call_tool(name, {k: v for k, v in kwargs.items() if v is not None or k in required})

    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    doc_args = []
    for arg, p in props.items():
        typ = _PY.get(p.get("type"), str)
        params.append(inspect.Parameter(arg, inspect.Parameter.KEYWORD_ONLY,
                                        default=inspect.Parameter.empty if arg in required else None,
                                        annotation=typ if arg in required else typ | None))
        doc_args.append(f"    {arg}: {p.get('description') or 'the ' + arg.replace('_', ' ')}")
    call.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in params[1:]} | {"return": str}
    call.__name__ = call.__qualname__ = name
    call.__doc__ = (spec.get("description") or name) + ("\n\nArgs:\n" + "\n".join(doc_args) if doc_args else "") \
        + "\n\nReturns:\n    What the environment answered."
    return call


class _ClawTRLEnvironment:
    """Base of the generated TRL environment classes (one class per claw env's tool set)."""

    def __init__(self, env: Any):
        self._env = env
        self._ids = itertools.count()
        self._done = True
        self._reward = 0.0
        self._seed = itertools.count()

    def reset(self, **row: Any) -> str:
        options = {"task_id": row["task_id"]} if row.get("task_id") else None
        obs, _ = self._env.reset(seed=row.get("seed", next(self._seed)), options=options)
        self._done, self._reward = False, 0.0
        return obs[0]["content"]

    def _call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        if self._done:
            return "The episode has ended; no more tool calls are accepted."
        action = {"role": "assistant", "content": "", "tool_calls": [
            {"id": f"call_{next(self._ids)}", "type": "function",
             "function": {"name": name, "arguments": json.dumps(arguments)}}]}
        _, reward, terminated, truncated, info = self._env.step(action)
        if terminated or truncated:
            self._done, self._reward = True, float(reward)
        return info["next_state"].text

    def get_reward(self) -> float:
        if not self._done:  # the model stopped without finishing: end the episode now
            if hasattr(self._env, "outcome_if_stopped"):
                self._reward = float(self._env.outcome_if_stopped())
            else:
                _, self._reward, *_ = self._env.step("submit")
            self._done = True
        return self._reward


def environment_class(env: Any) -> type:
    """A TRL environment class whose methods are ``env``'s tools."""
    methods = {spec["name"]: _method(spec["name"], spec) for spec in _tool_specs(env)}
    clash = set(methods) & {"reset", "get_reward"}
    if clash:
        raise ValueError(f"tool names {sorted(clash)} clash with TRL's environment methods")
    return type(f"{type(env).__name__}ForTRL", (_ClawTRLEnvironment,), methods)


def environment_factory(env_id: str = "claw/ToolCall-v0", **env_kwargs: Any) -> Callable[[], Any]:
    """A zero-argument factory for ``GRPOTrainer(environment_factory=...)`` creating ``env_id`` envs.

    For ToolCall-v0 a ``final_answer`` tool is added (unless ``answer_tool`` is given), since TRL does not pass
    the model's final text to the environment.
    """
    import gymnasium as gym

    import claw_envs  # noqa: F401 - registers the ids

    if env_id == "claw/ToolCall-v0":
        env_kwargs.setdefault("answer_tool", "final_answer")
    cls: list[type] = []

    def factory() -> Any:
        env = gym.make(env_id, **env_kwargs).unwrapped
        if not cls:
            cls.append(environment_class(env))
        return cls[0](env)

    return factory
