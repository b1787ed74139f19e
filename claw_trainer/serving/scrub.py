"""PII and secret redaction of served turns before anything is stored.

:func:`find_secrets` finds, in any text, spans of these kinds (each replaced by its label):

* ``[EMAIL]`` e-mail addresses;
* ``[PHONE]`` phone numbers: international (``+`` and 8-15 digits, separators allowed) and North-American
  ``(555) 123-4567`` / ``555-123-4567`` / ``555.123.4567``; bare digit runs are never phones (timestamps, ids);
* ``[CARD]`` payment card numbers: 13-19 digits (spaces or dashes between groups) with a card network's
  prefix and a valid Luhn checksum;
* ``[SSN]`` US social security numbers ``123-45-6789`` (valid area/group/serial), or nine digits right after
  "SSN"/"social security"; ``[IBAN]`` IBANs whose mod-97 checksum holds (spaces allowed);
* ``[KEY]`` API keys and tokens: OpenAI/Anthropic (``sk-...``), GitHub (``ghp_`` / ``github_pat_`` ...), AWS
  access key ids (``AKIA...``) and secret keys named as such, Slack tokens and webhooks, Stripe, Google,
  JWTs, ``Bearer`` tokens, private-key blocks, and the value after a ``api_key=`` / ``secret:`` /
  ``password=`` / ``token:``-style name when it looks like a credential (long, letters and digits).

Checksums and prefixes keep ordinary text (code, maths, dates, versions, hashes, ids) unredacted.

:func:`scrub_messages` redacts OpenAI-shaped messages whatever their form: string or multi-part ``content``
(text parts), tool messages, and assistant ``tool_calls`` arguments (JSON strings or objects).
:func:`scrub_response` does the same for a stored response body and drops its token ids (which encode the
original text). :class:`ScrubPolicy` is the switch: on by default, with per-tenant opt-out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    kind: str  # EMAIL | PHONE | CARD | SSN | IBAN | KEY
    start: int
    end: int


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_CARD_PREFIX = re.compile(r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|3(?:0[0-5]|[68])|6(?:011|5|4[4-9]|2)|35")


def card_ok(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn_ok(digits)


def iban_ok(text: str) -> bool:
    s = re.sub(r"\s", "", text).upper()
    if not 15 <= len(s) <= 34:
        return False
    n = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
    return int(n) % 97 == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?![\w-])")
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,6}(?![\w-])")
_PHONE_NANP = re.compile(r"(?<![\w+.-])(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[.-])\d{3}[ .-]\d{4}(?![\w-]|\.\d)")
_CARD = re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w-]|\.\d)")
_SSN = re.compile(r"(?<![\w-])(\d{3})-(\d{2})-(\d{4})(?![\w-])")
_SSN_NAMED = re.compile(r"(?i)\b(?:ssn|social security(?: number| no\.?)?)\s*(?:#|no\.?|number)?\s*[:=]?\s*"
                        r"(\d{3})[ -]?(\d{2})[ -]?(\d{4})\b")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")
_KEYS = re.compile("|".join([
    r"\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",  # OpenAI, Anthropic
    r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})",  # GitHub
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",  # AWS access key ids
    r"\bxox[abposre]-[A-Za-z0-9-]{10,}",  # Slack tokens
    r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}",  # Slack webhooks
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
    r"\bAIza[0-9A-Za-z_-]{35}",  # Google API keys
    r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWTs
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
]))
_BEARER = re.compile(r"(?i)\b(bearer|authorization:\s*token)\s+([A-Za-z0-9._~+/-]{16,}=*)")
# A credential after its name: `api_key = "..."`, `"secret": "..."`, `PASSWORD=...`, `aws_secret_access_key: ...`
_NAMED = re.compile(r"(?i)((?:[A-Za-z0-9]+[_-])*(?:api[_-]?key|apikey|secret(?:[_-]access)?(?:[_-]key)?|"
                    r"access[_-]?key|auth[_-]?token|access[_-]?token|token|passw(?:or)?d|pwd|credentials?)"
                    r"[\"']?[ \t]*[:=][ \t]*[\"']?)([^\s\"',;`]{6,})")


def _named_value_ok(name: str, value: str) -> bool:
    """A value after a credential's name counts when it looks like one (not a word, call or placeholder)."""
    if re.search(r"[()\[\]{}<>$]", value) or value.lower() in ("none", "null", "true", "false", "redacted") \
            or set(value) <= set("*x.X-_"):
        return False
    if re.search(r"(?i)pass|pwd", name):  # passwords: any non-identifier value (identifiers are code)
        return len(value) >= 6 and not re.fullmatch(r"[`]?[A-Za-z_][\w.-]*[`]?", value) or \
            len(value) >= 6 and any(c.isdigit() for c in value) and not value.startswith("`")
    has_digit, has_alpha = any(c.isdigit() for c in value), any(c.isalpha() for c in value)
    return (len(value) >= 12 and has_digit and has_alpha) or (len(value) >= 8 and has_digit and has_alpha
                                                             and not value.isidentifier())


def find_secrets(text: str) -> list[Finding]:
    """Non-overlapping findings in ``text``, in order (earlier, then longer, detectors win)."""
    found: list[Finding] = []
    for m in _KEYS.finditer(text):
        found.append(Finding("KEY", m.start(), m.end()))
    for m in _BEARER.finditer(text):
        if any(c.isdigit() for c in m.group(2)) or len(m.group(2)) >= 24:
            found.append(Finding("KEY", m.start(2), m.end()))
    for m in _NAMED.finditer(text):
        if _named_value_ok(m.group(1), m.group(2)):
            found.append(Finding("KEY", m.start(2), m.end(2)))
    for m in _EMAIL.finditer(text):
        found.append(Finding("EMAIL", m.start(), m.end()))
    for m in _IBAN.finditer(text):
        if iban_ok(m.group()):
            found.append(Finding("IBAN", m.start(), m.end()))
    for m in _CARD.finditer(text):
        if card_ok(re.sub(r"\D", "", m.group())):
            found.append(Finding("CARD", m.start(), m.end()))
    for m in _SSN.finditer(text):
        if ssn_ok(*m.groups()):
            found.append(Finding("SSN", m.start(), m.end()))
    for m in _SSN_NAMED.finditer(text):
        found.append(Finding("SSN", m.start(1), m.end()))
    for m in _PHONE_INTL.finditer(text):
        if 8 <= sum(c.isdigit() for c in m.group()) <= 15:
            found.append(Finding("PHONE", m.start(), m.end()))
    for m in _PHONE_NANP.finditer(text):
        found.append(Finding("PHONE", m.start(), m.end()))
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (f.start, -(f.end - f.start))):
        if kept and f.start < kept[-1].end:
            if f.end > kept[-1].end:  # overlapping findings merge into the first one's kind
                kept[-1] = Finding(kept[-1].kind, kept[-1].start, f.end)
            continue
        kept.append(f)
    return kept


def scrub_text(text: str) -> str:
    """``text`` with every finding replaced by ``[KIND]``."""
    if not text:
        return text
    out, pos = [], 0
    for f in find_secrets(text):
        out += [text[pos:f.start], f"[{f.kind}]"]
        pos = f.end
    return "".join(out) + text[pos:] if out else text


def scrub_value(value: Any) -> Any:
    """Strings anywhere inside lists and dicts scrubbed (keys kept); JSON held in a string stays JSON."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, list):
        return [scrub_value(v) for v in value]
    if isinstance(value, dict):
        return {k: scrub_value(v) for k, v in value.items()}
    return value


def _scrub_call(call: Any) -> Any:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return scrub_value(call)
    fn = dict(call["function"])
    args = fn.get("arguments")
    if isinstance(args, str):
        try:
            fn["arguments"] = json.dumps(scrub_value(json.loads(args)))
        except json.JSONDecodeError:
            fn["arguments"] = scrub_text(args)
    else:
        fn["arguments"] = scrub_value(args)
    return {**call, "function": fn}


def scrub_message(message: dict[str, Any]) -> dict[str, Any]:
    """One chat message scrubbed: ``content`` (string or parts), ``tool_calls`` arguments, ``name``."""
    out = dict(message)
    if "content" in out:
        out["content"] = scrub_value(out["content"])
    if out.get("tool_calls"):
        out["tool_calls"] = [_scrub_call(c) for c in out["tool_calls"]]
    if isinstance(out.get("name"), str):
        out["name"] = scrub_text(out["name"])
    return out


def scrub_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [scrub_message(m) if isinstance(m, dict) else m for m in messages]


TOKEN_FIELDS = ("token_ids", "prompt_token_ids", "logprobs")


def scrub_response(body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(a chat-completions body safe to store, whether it held a finding). When it did, or when ``redacted``
    prompts fed it, the caller should also drop its token ids: :func:`strip_token_ids`."""
    out = dict(body)
    out["choices"] = [{**c, "message": scrub_message(c["message"])} if isinstance(c.get("message"), dict) else c
                      for c in body.get("choices") or []]
    return out, out["choices"] != (body.get("choices") or [])


def strip_token_ids(body: dict[str, Any]) -> dict[str, Any]:
    """A response body without the token ids and log-probs that encode its prompt and completion."""
    out = {k: v for k, v in body.items() if k not in TOKEN_FIELDS}
    out["choices"] = [{k: v for k, v in c.items() if k not in TOKEN_FIELDS} for c in body.get("choices") or []]
    return out


@dataclass(frozen=True)
class ScrubPolicy:
    """Redaction on by default; ``opt_out`` names tenants (users) whose turns are stored as sent.

    Truthy when enabled, so code that only asks ``if scrub:`` keeps working; :meth:`applies` is the per-user
    answer."""

    enabled: bool = True
    opt_out: frozenset[str] = field(default_factory=frozenset)

    def __bool__(self) -> bool:
        return self.enabled

    def applies(self, tenant: str) -> bool:
        return self.enabled and tenant not in self.opt_out

    @classmethod
    def of(cls, value: Any) -> ScrubPolicy:
        return value if isinstance(value, ScrubPolicy) else cls(bool(value))
