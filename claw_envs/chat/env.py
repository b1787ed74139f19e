"""claw/Chat-v0: the agent helps a simulated user with a hidden preference; the user's reply is the next state.

Reproduces OpenClaw-RL's personal-agent evaluation: a lazy *student* wants homework answers that do not look
AI-written, a *teacher* wants detailed, friendly grading comments. Each episode the user opens with a request
(solve this problem / grade this student answer), the agent replies, and the user either asks for a rewrite
saying what it wants (the next-state signal; its directive is ``payload["hint"]``) or thanks the agent and
ends with the sentinel ``[[DONE]]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claw_envs.chat.personas import PERSONAS, Scenario, get_persona
from claw_envs.chat.problems import Problem, load_gsm8k, problem_from_id, procedural_problem
from claw_envs.chat.rating import Rating, make_rater
from claw_envs.chat.user import DONE, make_user
from claw_envs.core.env import ClawEnv, no_unknown_kwargs, renamed
from claw_envs.core.errors import ConfigError, TaskError
from claw_envs.core.nextstate import NextState

REWARDS = ("rating", "first", "satisfied")


class ChatEnv(ClawEnv):
    """Chat episodes with a simulated user.

    Args:
        persona: ``student``, ``teacher`` or None (drawn per episode from the env's RNG).
        tasks: ``procedural`` or None (seeded arithmetic word problems, unlimited), a list of ``Problem``, or a
            GSM8K source for ``load_gsm8k`` (local JSON/JSONL file or folder, or a hub name), read with
            ``split``/``limit``. Deprecated name: ``problems``.
        task_ids: draw episodes only from these ``<persona>/<problem id>`` ids (e.g. ``student/arith-7``).
        user: ``scripted`` (rules, default), ``hf:<model>``, ``http(s)://host:port/v1`` or a user object;
            ``user_model`` is the model name sent to an HTTP server; ``user_options`` go to ``LLMUser``
            (timeout, temperature, max_tokens, on_error).
        rater: ``rules`` (default), ``hf:<model>``, an HTTP URL or a rater object; ``rater_options`` go to
            ``ModelRating`` (scale, timeout, fallback).
        max_steps: agent replies per episode before truncation (default 4). Deprecated name: ``max_turns``.
        reward: ``rating`` (every step: the rating of that reply, 0..1), ``first`` (step 1: the rating of the
            first reply, 0 after) or ``satisfied`` (1.0 on the step the user ends satisfied, else 0).
        system_prompt: an optional system message put before the user's first message.
        max_action_length: longer replies are cut to this many characters (``payload["action_clipped"]``).
        backend: ``local`` only (the user and rater run in-process; host the env elsewhere with ``claw
            env-server`` or Ray).

    ``reset(options=)`` accepts ``persona``, ``task_id`` (``<persona>/<problem id>``, e.g.
    ``student/arith-7``), ``problem_id`` or ``problem`` (a ``Problem``). ``info`` carries ``task_id``,
    ``persona`` and ``problem_id``; on the first step also ``first_response_rating`` (float) and
    ``first_response_rating_detail``. Every step's ``info["next_state"]`` is the user's reply
    (role ``user``, kind ``chat``). The last step's ``info["outcome"]`` has ``score`` (the mean rating of the
    rated replies), ``success`` (the user ended satisfied), ``turns`` and the ratings.
    """

    kind = "chat"

    def __init__(self, persona: str | None = None, tasks: str | Path | list[Problem] | None = None,
                 task_ids: list[str] | None = None, split: str = "test", limit: int | None = None,
                 user: Any = "scripted", user_model: str = "default", user_options: dict[str, Any] | None = None,
                 rater: Any = "rules", rater_model: str = "default", rater_options: dict[str, Any] | None = None,
                 max_steps: int | None = None, reward: str = "rating", system_prompt: str | None = None,
                 max_action_length: int = 16384, backend: str = "local", render_mode: str | None = None,
                 **deprecated: Any):
        problems = renamed("ChatEnv", deprecated, "problems", "tasks", tasks)
        max_steps = renamed("ChatEnv", deprecated, "max_turns", "max_steps", max_steps)
        no_unknown_kwargs("ChatEnv", deprecated)
        problems = "procedural" if problems is None else problems
        max_steps = 4 if max_steps is None else max_steps
        super().__init__(render_mode=render_mode, max_action_length=1 << 20)
        if backend != "local":
            raise ConfigError(f"Chat-v0 runs in-process (backend='local'); got backend={backend!r}. Host it "
                              "elsewhere with claw env-server or Ray instead")
        self.backend = backend
        if persona is not None:
            get_persona(persona)
        if reward not in REWARDS:
            raise ConfigError(f"reward must be one of {REWARDS}, got {reward!r}")
        if int(max_steps) < 1:
            raise ConfigError(f"max_steps must be >= 1, got {max_steps!r}")
        self.persona_name, self.max_steps, self.reward_scheme = persona, int(max_steps), reward
        self.system_prompt, self.max_action_length = system_prompt, int(max_action_length)
        if isinstance(problems, list):
            self.problems: list[Problem] | None = problems
        elif problems == "procedural":
            self.problems = None
        else:
            self.problems = load_gsm8k(problems, split=split, limit=limit)
        if self.problems is not None and not self.problems:
            raise TaskError("no problems to run")
        self._by_id = {p.id: p for p in self.problems or []}
        self.task_ids = list(task_ids) if task_ids is not None else None
        for tid in self.task_ids or []:  # fail at construction, not at some later reset
            self._split_task_id(tid)
        if self.task_ids is not None and not self.task_ids:
            raise TaskError("task_ids is empty: no tasks to run")
        self.user = make_user(user, model=user_model, **(user_options or {}))
        self.rater = make_rater(rater, model=rater_model, **(rater_options or {}))
        self.scenario: Scenario | None = None
        self.turns = 0
        self.ratings: list[Rating] = []
        self._done = True

    # -- episode setup -------------------------------------------------------------------------------
    def _problem(self, problem_id: str | None) -> Problem:
        if problem_id is not None:
            if problem_id in self._by_id:
                return self._by_id[problem_id]
            if self.problems is None or problem_id.startswith("arith-"):
                return problem_from_id(problem_id)
            raise TaskError(f"unknown problem id {problem_id!r}; known: {sorted(self._by_id)[:10]}...")
        if self.problems is None:
            return procedural_problem(int(self.np_random.integers(1 << 31)))
        return self.problems[int(self.np_random.integers(len(self.problems)))]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        persona_name, problem_id = options.get("persona"), options.get("problem_id")
        if "task_id" not in options and not {"persona", "problem_id", "problem"} & set(options) and self.task_ids:
            options["task_id"] = self.task_ids[int(self.np_random.integers(len(self.task_ids)))]
        if "task_id" in options:
            persona_name, problem_id = self._split_task_id(options["task_id"])
        if persona_name is None:
            persona_name = self.persona_name or sorted(PERSONAS)[int(self.np_random.integers(len(PERSONAS)))]
        problem = options["problem"] if "problem" in options else self._problem(problem_id)
        self.scenario = get_persona(persona_name).scenario(problem)
        self.messages = ([{"role": "system", "content": self.system_prompt}] if self.system_prompt else [])
        self.messages.append({"role": "user", "content": self.scenario.first_message()})
        self.turns, self.ratings, self._done = 0, [], False
        return self._observe(), {**self._base_info(), "max_steps": self.max_steps, "backend": self.backend}

    def _split_task_id(self, task_id: Any) -> tuple[str, str]:
        persona_name, sep, problem_id = str(task_id).partition("/")
        if not sep:
            raise TaskError(f"task_id must look like '<persona>/<problem id>' (e.g. 'student/arith-7'), "
                            f"got {task_id!r}")
        get_persona(persona_name)
        self._problem(problem_id)
        return persona_name, problem_id

    @property
    def max_turns(self) -> int:
        """Deprecated name of ``max_steps``."""
        return self.max_steps

    def _base_info(self) -> dict[str, Any]:
        s = self.scenario
        return {"task_id": s.task_id, "persona": s.persona.name, "problem_id": s.problem.id}

    # -- one turn ------------------------------------------------------------------------------------
    def step(self, action: Any):
        if self._done or self.scenario is None:
            raise RuntimeError("step() called after the episode ended: call reset() first")
        if isinstance(action, dict):
            action = action.get("content") or ""
        if not isinstance(action, str):
            raise TypeError(f"Chat-v0 actions are the assistant's reply text (str), got {type(action).__name__}")
        clipped = len(action) > self.max_action_length
        text = action[:self.max_action_length] if clipped else action
        self.messages.append({"role": "assistant", "content": text})
        self.turns += 1
        info = self._base_info()
        info["step"] = self.turns
        rating = None
        if self.turns == 1 or self.reward_scheme == "rating":
            rating = self.rater.rate(self.scenario, text)
            self.ratings.append(rating)
        if self.turns == 1:
            info["first_response_rating"] = rating.score
            info["first_response_rating_detail"] = rating.as_dict()
        said = self.user.reply(self.scenario, self._observe())
        self.messages.append({"role": "user", "content": said.text})
        terminated = said.done
        truncated = not terminated and self.turns >= self.max_steps
        self._done = terminated or truncated
        done_reason = "satisfied" if terminated else ("max_steps" if truncated else None)
        if self.reward_scheme == "satisfied":
            reward = 1.0 if terminated else 0.0
        elif self.reward_scheme == "first":
            reward = rating.score if self.turns == 1 else 0.0
        else:
            reward = rating.score
        payload = {"satisfied": said.done, "hint": said.hint, "violations": list(said.violations),
                   "source": said.source, "error": said.error, "action_clipped": clipped,
                   "rating": None if rating is None else rating.as_dict(), "sentinel": DONE}
        if self._done:
            rated = [r.score for r in self.ratings]
            info["outcome"] = {"score": sum(rated) / len(rated) if rated else 0.0, "success": bool(said.done),
                               "satisfied": bool(said.done), "turns": self.turns, "ratings": rated,
                               "first_response_rating": rated[0] if rated else None}
        info["next_state"] = NextState(role="user", kind="chat", text=said.text, done_reason=done_reason,
                                       payload=payload)
        return self._observe(), float(reward), terminated, truncated, info

    def close(self) -> None:
        for part in (self.user, self.rater):
            close = getattr(part, "close", None)
            if close is not None:
                close()
        super().close()
