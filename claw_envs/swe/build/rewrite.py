"""Optional LLM rewrite of a problem statement (``claw swe build --rewrite-statement URL/v1/MODEL``).

The model gets the procedural statement only (failing tests, pytest's error lines, the test's code: written
from the failing behaviour, never from the fix) and is asked for an issue-style report. The rewrite goes
through the judge's HTTP backend (``claw_envs.prm.backends.OpenAIBackend``: any OpenAI-compatible server).
It is *rejected* and the procedural statement kept when the request fails, the reply is empty or far too
long, or it contains any line the gold patch adds or removes (compared stripped, and with runs of whitespace
collapsed); ``claw_meta["statement"]`` records which text an instance carries and why.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace

from claw_envs.core.errors import ClawError
from claw_envs.swe.instance import SWEInstance

MIN_LINE = 4  # patch lines shorter than this (")", "}", "") are not evidence of a leak
PROMPT = (
    "Rewrite the bug report below as a GitHub issue written by a user of the library: say what they did, what "
    "they expected and what happened instead, keep the failing test names and error messages that matter, and "
    "keep it short. Do not guess or suggest a fix and do not quote library source code. Reply with the issue "
    "text only.\n\n---\n{statement}")


def patch_lines(patch: str) -> list[str]:
    """The added and removed lines of a unified diff (stripped; file headers and short lines left out)."""
    out = []
    for ln in patch.splitlines():
        if ln.startswith(("+++", "---")) or ln[:1] not in "+-":
            continue
        s = ln[1:].strip()
        if len(s) >= MIN_LINE:
            out.append(s)
    return out


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def leaked_lines(text: str, patch: str) -> list[str]:
    """The gold patch's added/removed lines that appear in ``text``."""
    squashed = _squash(text)
    return [ln for ln in patch_lines(patch) if ln in text or _squash(ln) in squashed]


def parse_spec(spec: str) -> tuple[str, str]:
    """``http://host:port/v1/MODEL`` -> (``http://host:port/v1``, ``MODEL``); ``.../v1`` alone -> model ``default``."""
    if not spec.startswith(("http://", "https://")):
        raise ClawError(f"--rewrite-statement {spec!r}: give the server's API root and the model, "
                        "e.g. http://127.0.0.1:8001/v1/smollm2")
    head, sep, model = spec.rstrip("/").rpartition("/v1/")
    if sep:
        return head + "/v1", model
    if spec.rstrip("/").endswith("/v1"):
        return spec.rstrip("/"), "default"
    raise ClawError(f"--rewrite-statement {spec!r}: the URL must end in /v1 or /v1/MODEL")


@dataclass
class Rewriter:
    """Rewrites statements with a model behind an OpenAI-compatible server (one request per instance)."""

    base_url: str
    model: str = "default"
    timeout: float = 120.0
    max_tokens: int = 512
    temperature: float = 0.3

    @classmethod
    def from_spec(cls, spec: str) -> Rewriter:
        return cls(*parse_spec(spec))

    def _ask(self, statement: str) -> str:
        from claw_envs.prm.backends import OpenAIBackend

        async def once() -> str:
            backend = OpenAIBackend(self.base_url, model=self.model)
            try:
                return await asyncio.wait_for(
                    backend.complete([{"role": "user", "content": PROMPT.format(statement=statement)}],
                                     temperature=self.temperature, max_tokens=self.max_tokens), self.timeout)
            finally:
                await backend.aclose()

        return asyncio.run(once())

    def rewrite(self, statement: str, gold_patch: str) -> tuple[str, str]:
        """(text, how): the rewrite and ``rewritten by MODEL``, or the procedural ``statement`` and why not."""
        try:
            text = (self._ask(statement) or "").strip()
        except Exception as e:  # noqa: BLE001 - any failure of the model keeps the procedural statement
            return statement, f"procedural (rewrite failed: {type(e).__name__}: {str(e)[:200]})"
        if len(text) < 20:
            return statement, "procedural (rewrite empty or too short)"
        if len(text) > 4 * len(statement) + 2000:
            return statement, "procedural (rewrite too long)"
        leaks = leaked_lines(text, gold_patch)
        if leaks:
            return statement, f"procedural (rewrite rejected: it contains a line of the gold patch: {leaks[0][:80]!r})"
        return text.rstrip() + "\n", f"rewritten by {self.model}"

    def apply(self, inst: SWEInstance) -> SWEInstance:
        """``inst`` with its statement rewritten (or kept), ``claw_meta['statement']`` saying which."""
        text, how = self.rewrite(inst.problem_statement, inst.patch)
        meta = {**inst.extra.get("meta", {}), "statement": how}
        return replace(inst, problem_statement=text, extra={**inst.extra, "meta": meta})
