"""PRMReward: a ``gym.Wrapper`` that adds the judge's process reward to any claw env."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any

import gymnasium as gym

from claw_envs.core.errors import JudgeError
from claw_envs.prm.judge import Judge, Judgement, Turn

logger = logging.getLogger(__name__)
_failures = {"n": 0}


def _log_failure(error: str) -> None:
    """A judge that was not heard is logged (the 1st, 2nd, 4th, 8th... and every 100th time), never scored as 0."""
    _failures["n"] += 1
    n = _failures["n"]
    if n & (n - 1) == 0 or n % 100 == 0:
        logger.warning("the judge gave no vote (%d turn(s) so far): %s; process reward left as None", n, error)


class PRMReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Judge each ``(action, next_state)`` and add ``coef · process`` to the env's reward.

    ``info["reward_channels"]`` keeps every channel apart: ``outcome`` (the env's reward), ``process`` (the
    judge's score), ``votes``, ``hint`` (from ``hint_judge``, if given) and ``judge_latency`` (seconds the
    judgement took when computed; a cached judgement reports that same figure, so steps stay reproducible). Trainers compose
    channels; this wrapper only adds ``coef · process`` to the scalar reward for libraries that need one.

    With ``async_judging=True`` the step returns at once with ``process=None`` and ``pending=True``; the
    judgement runs in the background and ``collect()`` returns ``(episode, step, channels)`` for every turn
    judged since the last call (``collect(wait=True)`` waits for all pending ones).

    A judge that cannot be reached fails at construction (``JudgeError`` saying what to do; ``check=False``
    skips the check). When every vote of a turn fails later (the server died, timeouts), ``process`` is None
    — never a made-up 0 — ``judge_error`` says why, a warning is logged, and the reward is the env's alone.

    ``judge=None`` with a ``hint_judge`` records hints only: ``process`` and ``votes`` stay ``None`` (so a
    trainer scores turns by the env's outcome, not by votes nobody asked for) and the reward is the env's.
    """

    def __init__(self, env: gym.Env, judge: Judge | None, coef: float = 1.0, hint_judge: Judge | None = None,
                 async_judging: bool = False, check: bool = True):
        gym.utils.RecordConstructorArgs.__init__(self, judge=judge, coef=coef, hint_judge=hint_judge,
                                                 async_judging=async_judging, check=check)
        if judge is None and hint_judge is None:
            raise JudgeError("PRMReward needs a judge (process votes) or a hint_judge (hints), e.g. "
                             "PRMReward(env, Judge(RuleBackend())); without either, use the env unwrapped")
        for j in (judge, hint_judge):
            if j is not None and not isinstance(j, Judge):
                raise JudgeError(f"PRMReward takes Judge objects, got {type(j).__name__}: wrap a backend as "
                                 f"Judge(backend, mode=..., m=...)")
            if j is not None and check:
                j.check()
        gym.Wrapper.__init__(self, env)
        self.judge, self.hint_judge, self.coef, self.async_judging = judge, hint_judge, coef, async_judging
        self._pending: list[tuple[int, int, Future, Future | None, float]] = []
        self.episode = -1
        self._step = 0

    def reset(self, **kwargs: Any):
        self.episode += 1
        self._step = 0
        return self.env.reset(**kwargs)

    def _turn(self, action: Any, info: dict[str, Any], obs: Any) -> Turn:
        text = action if isinstance(action, str) else str(
            action.get("content") or action.get("tool_calls") if isinstance(action, dict) else action)
        msgs = obs if isinstance(obs, list) else []
        task = msgs[0]["content"] if msgs and msgs[0].get("role") == "user" else None
        return Turn.from_next_state(text, info["next_state"], task=task, history=tuple(msgs[:-2]), step=self._step)

    @staticmethod
    def _channels(outcome: float, j: Judgement | None, h: Judgement | None) -> dict[str, Any]:
        errors = [x.error for x in (j, h) if x is not None and x.failed]
        if errors:
            _log_failure(errors[0])
        heard = j is not None and not j.failed
        return {"outcome": outcome, "process": j.score if heard else None, "votes": list(j.votes) if j else None,
                "hint": h.hint if h else None,
                "judge_latency": (j.latency if j else 0.0) + (h.latency if h else 0.0),
                "invalid_votes": j.invalid if j else 0, "judge_error": errors[0] if errors else None}

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._step += 1
        turn = self._turn(action, info, obs)
        if self.async_judging:
            fut = self.judge.submit(turn) if self.judge else None
            hfut = self.hint_judge.submit(turn) if self.hint_judge else None
            self._pending.append((self.episode, self._step, fut, hfut, float(reward)))
            info["reward_channels"] = {"outcome": float(reward), "process": None, "votes": None, "hint": None,
                                       "judge_latency": None, "pending": True}
            return obs, reward, terminated, truncated, info
        j = self.judge.score(turn) if self.judge else None
        h = self.hint_judge.score(turn) if self.hint_judge else None
        ch = info["reward_channels"] = self._channels(float(reward), j, h)
        process = ch["process"]
        return obs, float(reward) + (self.coef * process if process is not None else 0.0), terminated, truncated, info

    def collect(self, wait: bool = False) -> list[tuple[int, int, dict[str, Any]]]:
        """Judgements finished since the last call (all pending ones when ``wait``)."""
        done, still = [], []
        for ep, st, fut, hfut, outcome in self._pending:
            if wait or ((fut is None or fut.done()) and (hfut is None or hfut.done())):
                done.append((ep, st, self._channels(outcome, fut.result() if fut else None,
                                                    hfut.result() if hfut else None)))
            else:
                still.append((ep, st, fut, hfut, outcome))
        self._pending = still
        return done
