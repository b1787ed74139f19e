"""The rule-based judge: regex heuristics on the next state, the no-model baseline.

It rewards evidence, not appearances: output a command only printed itself (``echo ok``,
``printf '12 passed'``) is no evidence of anything. Such a turn scores 0, and -1 when the printed text
claims success or echoes the task (``echo "created /app/done"`` for "Create /app/done"): a claim made
instead of the work. Exit 0 alone is no evidence either: a command that neither changes nor checks anything
(``true``, ``:``, ``cd .``, ``exit 0``, ``ls /``, ``pwd``, ``sleep 1``) scores 0 however cleanly it exits;
+1 needs a check the action was aimed at (tests passing) or work whose output shows no error.
"""

from __future__ import annotations

import re
from typing import Any

_NEG_USER = re.compile(
    r"\b(wrong|incorrect|not what i (asked|wanted|meant)|that's not|thats not|try again|redo|again|"
    r"doesn't work|does not work|didn't work|did not work|still (broken|failing|wrong|not)|no,|nope|"
    r"i said|i asked|you forgot|you missed|mistake|fix (it|this|that)|broken|useless|instead)\b", re.I)
_POS_USER = re.compile(r"\b(thanks|thank you|thx|perfect|great|awesome|works|worked|exactly|nice|"
                       r"that's it|looks good|lgtm|correct|helpful)\b", re.I)
_ERROR = re.compile(r"(Traceback \(most recent call last\)|\berror\b|\bexception\b|command not found|"
                    r"No such file|Permission denied|\bfailed\b|\bFAILED\b|cannot|can't|invalid|not found|"
                    r"SyntaxError|does not apply|patch failed|timed out|no tool call|answer found)", re.I)
_TESTS = re.compile(r"(\d+) failed|(\d+) passed", re.I)
_EXIT = re.compile(r"\[exit code: (-?\d+)\]")
_FENCE = re.compile(r"```(?:bash|sh|shell|console)?\s*\n(.*?)```", re.S)
_JSON_CMD = re.compile(r'"(?:command|cmd)"\s*:\s*"((?:[^"\\]|\\.)*)"')
_PRINT_ONLY = re.compile(r"^(echo|printf|true|:|exit\s+0|sleep\s+[\d.]+)(\s|$)")
_NO_OP = re.compile(r"^(true|:|cd(\s+\S+)?|exit(\s+0)?|sleep\s+[\d.]+|clear)$")
_LOOK = re.compile(r"^(ls(\s+-[a-zA-Z]+)*(\s+\S+)?|pwd|whoami|id|date|hostname|uname(\s+-[a-z]+)?)$")
_CLAIM = re.compile(r"\b(ok|okay|done|success(ful(ly)?)?|passed|pass|fixed|complete(d)?|finished|solved|all good|"
                    r"works|created|written|correct)\b", re.I)
_WORD = re.compile(r"[A-Za-z0-9_./-]{4,}")
HINT_CHARS = 400  # of the next state's line quoted in a hint
_NO_CHANGE = re.compile(r"\b(no (visible )?change|nothing (happened|changed)|still (open|the same|shows))\b", re.I)


def command_of(action: str) -> str:
    """The shell command in a model action (a fenced block or a ``{"command": ...}`` tool call), else the text."""
    m = _FENCE.search(action or "")
    if m:
        return m.group(1).strip()
    m = _JSON_CMD.search(action or "")
    if m:
        return m.group(1).encode().decode("unicode_escape", "replace").strip()
    return (action or "").strip()


def self_printed(action: str, next_text: str) -> bool:
    """Whether the action only prints, and everything it printed is text written in the action itself."""
    cmd = command_of(action)
    parts = [p.strip() for p in re.split(r"\s*(?:;|&&|\|\||\n)\s*", cmd) if p.strip()]
    if not parts or not all(_PRINT_ONLY.match(p) for p in parts):
        return False
    lines = [ln.strip() for ln in _EXIT.sub("", next_text or "").splitlines() if ln.strip()]
    flat = cmd.replace("\\n", "\n")
    return bool(lines) and all(ln in flat for ln in lines)


def no_op(action: str, next_text: str = "", task: str | None = None) -> bool:
    """Whether the action's command neither changes nor checks anything the task is about: every part is a
    no-op (``true``, ``cd .``, ``exit 0``, ``sleep 1``) or a look around (``ls``, ``pwd``, ``id``...) whose output
    names nothing from ``task`` (``ls /app`` showing ``done`` for "Create /app/done" is a check; ``ls /`` is
    not). Its exit code says nothing about the task."""
    parts = [p.strip() for p in re.split(r"\s*(?:;|&&|\|\||\n)\s*", command_of(action)) if p.strip()]
    if not parts or not all(_NO_OP.match(p) or _LOOK.match(p) for p in parts):
        return False
    task_words = {w.lower() for w in re.findall(r"[A-Za-z0-9_]{4,}", task or "")}
    shown = {w.lower() for w in re.findall(r"[A-Za-z0-9_]{4,}", _EXIT.sub("", next_text))}
    return not (task_words & shown)


def _claims(text: str, task: str | None) -> bool:
    body = _EXIT.sub("", text)
    if _CLAIM.search(body):
        return True
    task_words = {w.lower().strip("./") for w in _WORD.findall(task or "")}
    return bool(task_words & {w.lower().strip("./") for w in _WORD.findall(body)})


def rule_vote(next_role: str, next_text: str, mode: str = "binary", *, action: str | None = None,
              task: str | None = None) -> tuple[int, str | None]:
    """(vote, hint) from heuristics on the next state, the action that led to it and the task.

    With ``action`` given, output the action only printed itself is not evidence: vote 0, or -1 when it
    claims success or repeats the task (``task``'s words) without doing anything.
    """
    text = next_text or ""
    vote = 0
    if next_role != "user" and action is not None and self_printed(action, text):
        if _claims(text, task):
            vote, why = -1, "it only printed a claim of success; nothing was done or checked"
        else:
            vote, why = 0, None
        if mode == "hint":
            hint = (f"The last command {why}. Do the work the task asks for and verify it with a real check."
                    if why else None)
            return (1 if why else -1), hint
        if mode == "step" and vote == 0:
            vote = -1
        return vote, None
    if next_role == "user":
        neg, pos = bool(_NEG_USER.search(text)), bool(_POS_USER.search(text))
        vote = -1 if neg else (1 if pos else 0)
    else:
        tests = _TESTS.findall(text)
        exit_m = _EXIT.findall(text)
        failed = sum(int(f or 0) for f, _ in tests)
        passed = sum(int(p or 0) for _, p in tests)
        if tests:
            vote = -1 if failed else (1 if passed else 0)
        elif action is not None and no_op(action, text, task):  # nothing done, nothing checked: only errors count
            vote = -1 if (exit_m and int(exit_m[-1]) != 0) or _ERROR.search(text) else 0
        elif exit_m:
            vote = 1 if int(exit_m[-1]) == 0 and not re.search(r"Traceback|Error:", text) else -1
        elif text.lstrip().lower().startswith("error") or _ERROR.search(text) or _NO_CHANGE.search(text):
            vote = -1
        elif text.strip():
            vote = 1
    if mode == "step" and vote == 0:
        vote = -1 if next_role != "user" else 1
    hint = None
    if mode == "hint":
        if vote == -1:
            line = next(((ln.strip() for ln in text.splitlines() if _ERROR.search(ln) or _NEG_USER.search(ln))),
                        text.strip().splitlines()[0] if text.strip() else "")
            # up to HINT_CHARS of the line: a user's request names its wants in one long line; cutting it at
            # 200 characters lost the last ones (Chat-v0's teacher: "...; a score at the end, like 7/10")
            hint = f"What came next shows the reply did not work: \"{line[:HINT_CHARS]}\". Address that directly."
            vote = 1
        else:
            vote = -1
    return vote, hint


class RuleBackend:
    """A judge backend that answers from heuristics instead of a model (it never fails, never waits)."""

    name = "rules"

    async def complete(self, messages: list[dict[str, str]], *, turn: Any = None, mode: str = "binary",
                       **_: Any) -> str:
        vote, hint = rule_vote(turn.next_role, turn.next_text, mode, action=turn.action, task=turn.task)
        return f"\\boxed{{{vote}}}" + (f" [HINT_START]{hint}[HINT_END]" if hint else "")
