"""Privacy before persistence: secrets in user and tool messages never reach the turn store as text.

A seeded generator makes a corpus of 200 secrets (e-mail addresses, phone numbers, Luhn-valid card numbers, US
SSNs, IBANs with valid checksums, OpenAI/Anthropic/GitHub/AWS/Slack/bearer keys and named credentials) placed
in user messages (plain and multi-part content), tool results and assistant tool-call arguments. They are
served through the real ``claw serve`` proxy (a tiny local model, HTTP on 127.0.0.1) and the SQLite files are
then read as raw bytes. Ordinary text (code, maths, dates, versions, hashes) must come out unchanged.
"""

import json
import random
import sqlite3
import string

import pytest

from claw_trainer.serving.scrub import (
    ScrubPolicy,
    card_ok,
    find_secrets,
    iban_ok,
    scrub_messages,
    scrub_response,
    scrub_text,
    strip_token_ids,
)

ALNUM = string.ascii_letters + string.digits


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for d in string.digits:
        if card_ok(body + d):
            return body + d
    raise AssertionError(body)


def _iban(country: str, bban: str) -> str:
    n = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(n) % 97:02d}{bban}"


def make_secret(kind: str, rng: random.Random) -> str:
    """One secret of ``kind`` (seeded by ``rng``), formatted the many ways people write them."""
    digits = lambda n: "".join(rng.choice(string.digits) for _ in range(n))  # noqa: E731
    chars = lambda n, pool=ALNUM: "".join(rng.choice(pool) for _ in range(n))  # noqa: E731
    if kind == "email":
        user = rng.choice(["ada", "bob.smith", "j_doe", "maria+news", "x"]) + digits(rng.randint(0, 3))
        return f"{user}@{rng.choice(['example.com', 'mail.example.org', 'uni-x.ac.uk', 'corp.io'])}"
    if kind == "phone":
        a, b, c = str(rng.randint(201, 989)), digits(3), digits(4)
        return rng.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}", f"+1-{a}-{b}-{c}",
                           f"+44 20 {digits(4)} {digits(4)}", f"+49 30 {digits(8)}", f"+33 1 {digits(2)} {digits(2)} "
                           f"{digits(2)} {digits(2)}", f"+91 {digits(5)} {digits(5)}", f"+{rng.randint(30, 99)}{digits(9)}"])
    if kind == "card":
        prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15),
                                     ("6011", 16), ("35", 16), ("4", 19)])
        num = _luhn_complete(prefix, length, rng)
        if length == 15:
            return rng.choice([num, f"{num[:4]} {num[4:10]} {num[10:]}"])
        sep = rng.choice([" ", "-", ""])
        return sep.join(num[i:i + 4] for i in range(0, len(num), 4))
    if kind == "ssn":
        area = rng.choice([n for n in range(1, 900) if n != 666])
        return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
    if kind == "iban":
        iban = rng.choice([_iban("DE", digits(18)), _iban("GB", chars(4, string.ascii_uppercase) + digits(14)),
                           _iban("FR", digits(23)), _iban("NL", chars(4, string.ascii_uppercase) + digits(10))])
        return rng.choice([iban, " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))])
    if kind == "openai":
        return rng.choice(["sk-proj-", "sk-"]) + chars(48, ALNUM + "_-")
    if kind == "anthropic":
        return "sk-ant-api03-" + chars(93, ALNUM + "_-") + "AA"
    if kind == "github":
        return rng.choice(["ghp_", "gho_", "ghs_"]) + chars(36) if rng.random() < 0.7 else "github_pat_" + chars(82, ALNUM + "_")
    if kind == "aws":
        return "AKIA" + chars(16, string.ascii_uppercase + string.digits)
    if kind == "aws_secret":
        return chars(40, ALNUM + "/+")
    if kind == "slack":
        return f"xox{rng.choice('bpa')}-{digits(12)}-{digits(13)}-{chars(24)}"
    if kind == "bearer":
        return chars(rng.randint(24, 64), ALNUM + "._-")
    if kind == "password":
        return chars(rng.randint(10, 20), ALNUM + "!@#%^&*")
    raise ValueError(kind)


KINDS = ["email", "phone", "card", "ssn", "iban", "openai", "anthropic", "github", "aws", "aws_secret", "slack",
         "bearer", "password"]
SAY = {  # how a secret of each kind appears in a message (the secret is {s})
    "email": ["you can reach me at {s} anytime", "Contact: {s}"],
    "phone": ["call me on {s} after six", "phone {s}"],
    "card": ["my card is {s}, expiry 08/27", "charge {s} please"],
    "ssn": ["my SSN is {s}", "social security number: {s}"],
    "iban": ["send it to IBAN {s} by friday", "account {s}"],
    "openai": ["OPENAI_API_KEY={s}", "here is my key {s} for the script"],
    "anthropic": ["ANTHROPIC_API_KEY={s}", "use {s} with the client"],
    "github": ["export GITHUB_TOKEN={s}", "the token is {s}"],
    "aws": ["aws_access_key_id = {s}", "AccessKeyId: {s}"],
    "aws_secret": ["aws_secret_access_key = {s}", "\"SecretAccessKey\": \"{s}\""],
    "slack": ["SLACK_BOT_TOKEN={s}", "slack token {s}"],
    "bearer": ["Authorization: Bearer {s}", "curl -H 'Authorization: Bearer {s}' https://api.example.com"],
    "password": ["password: {s}", "db_password=\"{s}\""],
}


def secret_corpus(seed: int = 0, n: int = 200) -> list[tuple[str, str, str]]:
    """``n`` (kind, secret, sentence) triples, every kind about equally often, deterministic per ``seed``."""
    rng = random.Random(seed)
    out, seen = [], set()
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        s = make_secret(kind, rng)
        while s in seen:  # 200 distinct secrets
            s = make_secret(kind, rng)
        seen.add(s)
        out.append((kind, s, rng.choice(SAY[kind]).format(s=s)))
    return out


def corpus_conversations(corpus: list[tuple[str, str, str]], per: int = 5) -> list[list[dict]]:
    """Conversations carrying the corpus: secrets in plain and multi-part user messages, tool results and the
    arguments of an assistant's tool call (each conversation ends with a user or tool message)."""
    convs = []
    for k in range(0, len(corpus), per):
        chunk = [c[2] for c in corpus[k:k + per]]
        form = (k // per) % 3
        msgs: list[dict] = [{"role": "system", "content": "You are a helpful assistant."}]
        if form == 0:  # user text, then a multi-part user message
            msgs += [{"role": "user", "content": " ".join(chunk[:2])}, {"role": "assistant", "content": "Noted."},
                     {"role": "user", "content": [{"type": "text", "text": t} for t in chunk[2:]]}]
        elif form == 1:  # a tool call whose arguments and result carry secrets
            msgs += [{"role": "user", "content": f"save this: {chunk[0]}"},
                     {"role": "assistant", "content": None, "tool_calls": [
                         {"id": f"call_{k}", "type": "function",
                          "function": {"name": "save_note", "arguments": json.dumps({"note": chunk[1]})}}]},
                     {"role": "tool", "tool_call_id": f"call_{k}",
                      "content": json.dumps({"saved": True, "env": chunk[2:4]})},
                     {"role": "user", "content": chunk[4] if len(chunk) > 4 else "ok"}]
        else:  # a shell tool printed them
            msgs += [{"role": "user", "content": "run env"},
                     {"role": "assistant", "content": None, "tool_calls": [
                         {"id": f"call_{k}", "type": "function", "function": {"name": "exec", "arguments": "{\"cmd\": \"env\"}"}}]},
                     {"role": "tool", "tool_call_id": f"call_{k}", "content": "\n".join(chunk)}]
        convs.append(msgs)
    return convs


TOOLS = [{"type": "function", "function": {"name": n, "description": n, "parameters": {"type": "object"}}}
         for n in ("save_note", "exec")]


def _raw_forms(kind: str, secret: str) -> set[str]:
    """The strings whose presence in the store counts as a leak (the secret as written, and compacted)."""
    forms = {secret}
    if kind in ("card", "iban", "phone"):
        compact = "".join(c for c in secret if c.isalnum())
        if len(compact) >= 10:
            forms.add(compact)
    return forms


ORDINARY = [
    "what is 12 + 30? and 1234 * 5678 = 7006652",
    "x = 3.14159265358979; y = 2.718281828459045; print(x * y)",
    "The meeting is on 2026-12-03 at 08:10 UTC; the next one on 03/12/2026 or 12.03.2026.",
    "pip install torch==2.13.0 transformers==5.23 and serve on http://127.0.0.1:8000/v1",
    "commit 5970128a3f9e0b7c1d2e4f6a8b0c2d4e6f8a0b1c fixed it; uuid 550e8400-e29b-41d4-a716-446655440000",
    "timestamp 1733212345 and in ms 1733212345678; port 8080; pid 12345",
    "def f(token, api_key=None):\n    token = tokenizer(text)\n    return max_new_tokens=128",
    "The answer is 42. Step 1: 7 x 6 = 42. Total cost: $1,234,567.89",
    "ISBN 978-3-16-148410-0, order no. 2024-000123, invoice 555-1234",
    "password = os.environ['DB_PASSWORD']; secret = get_secret(name); token: str = ''",
    "matrix [[1, 2, 3], [4, 5, 6]] has shape (2, 3); 10**9 + 7 = 1000000007",
    "The student wrote 12 x 9 = 108, then 108 + 14 = 122. Answer: 122. Score: 8/10",
    "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "Call tool_search with query 'weather'; see docs/gateway/configuration.md section 4.2.1",
    "the model has 134,515,008 parameters and a 8,192-token window; lr 1e-5, eps 0.2",
    "[Thu 2026-12-03 07:56 UTC] hello, what is 2+2?\n\nRuntime: agent=main | session=agent:main:main | "
    "sessionId=79649c67-7a8a-46c4-8c6e-eb888b8f3f1e | node=v24.22.3 | os=Linux 6.18.44-fc-v1147 (x64)",
    "IBAN format is CCkk BBBB ... and my number format is XXX-XXX-XXXX",
    "version 1.2.3.4, ip 192.168.100.200, 10.0.0.1:5432, range 100-200-300",
]


def test_each_kind_is_found_and_checksums_hold():
    corpus = secret_corpus(seed=1, n=13 * 8)
    for kind, secret, sentence in corpus:
        out = scrub_text(sentence)
        assert not any(f in out for f in _raw_forms(kind, secret)), (kind, sentence, out)
    assert card_ok("4111111111111111") and not card_ok("4111111111111112")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE88 3704 0044 0532 0130 00")
    assert scrub_text("mail ada@example.org, call +44 20 7946 0958") == "mail [EMAIL], call [PHONE]"
    assert scrub_text("card 4111 1111 1111 1111 ok") == "card [CARD] ok"
    assert scrub_text("SSN 123-45-6789") == "SSN [SSN]" and scrub_text("id 000-12-3456") == "id 000-12-3456"


def test_ordinary_text_is_left_alone():
    hits = {t: [(f.kind, t[f.start:f.end]) for f in find_secrets(t)] for t in ORDINARY}
    assert not any(hits.values()), {t: h for t, h in hits.items() if h}


def test_messages_in_every_form_are_scrubbed():
    conv = corpus_conversations(secret_corpus(seed=2, n=15))
    for msgs in conv:
        text = json.dumps(scrub_messages(msgs))
        assert "[" in text and not any(c in text for c in ("@example.", "sk-proj-", "AKIA"))
    call = scrub_messages([{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"to": "ada@example.org"}}}]}])
    assert call[0]["tool_calls"][0]["function"]["arguments"] == {"to": "[EMAIL]"}
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "mail ada@example.org"},
                         "token_ids": [1, 2]}], "prompt_token_ids": [3]}
    safe, changed = scrub_response(body)
    assert changed and safe["choices"][0]["message"]["content"] == "mail [EMAIL]"
    stripped = strip_token_ids(safe)
    assert "prompt_token_ids" not in stripped and "token_ids" not in stripped["choices"][0]
    policy = ScrubPolicy(opt_out=frozenset({"key-abc"}))
    assert policy and policy.applies("anonymous") and not policy.applies("key-abc")
    assert not ScrubPolicy.of(False) and ScrubPolicy.of(True).applies("x")


def _serve_corpus(tmp_path, corpus, scrub=True):
    httpx = pytest.importorskip("httpx")
    from claw_trainer.config import load_config
    from claw_trainer.serving.stack import ServeStack

    cfg = load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"),
                             "--train.max_new_tokens", "4", "--train.output_dir", str(tmp_path / "run")])
    with ServeStack(cfg, learn=False, scrub_pii=scrub) as stack, httpx.Client(timeout=120) as client:
        for i, msgs in enumerate(corpus_conversations(corpus)):
            r = client.post(stack.base_url + "/chat/completions",
                            json={"messages": msgs, "tools": TOOLS, "max_tokens": 4},
                            headers={"X-Session-Id": f"s{i // 2}"})  # pairs of requests share a session
            assert r.status_code == 200, r.text
        counts = stack.store.counts()
    return counts


@pytest.mark.timeout(600)
def test_200_secrets_served_through_the_proxy_leave_no_raw_hit_in_the_store(tmp_path):
    pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
    pytest.importorskip("transformers", reason="the [train] extra is not installed")
    corpus = secret_corpus(seed=0, n=200)
    assert len({s for _, s, _ in corpus}) == 200
    counts = _serve_corpus(tmp_path, corpus)
    assert sum(counts.values()) == 40, counts
    raw = b"".join(p.read_bytes() for p in (tmp_path / "run").glob("turns.sqlite*"))
    text = raw.decode("latin-1")
    leaks = [(kind, secret) for kind, secret, _ in corpus if any(f in text for f in _raw_forms(kind, secret))]
    assert not leaks, f"{len(leaks)} of 200 secrets stored raw: {leaks[:10]}"
    assert text.count("[KEY]") and text.count("[CARD]") and text.count("[IBAN]") and text.count("[SSN]")
    # the token ids kept with a turn, or with the response body replayed to retries, would decode to them
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tmp_path / "cache" / "tiny")
    db = sqlite3.connect(tmp_path / "run" / "turns.sqlite")
    decoded = []
    for resp, turn in db.execute("SELECT response, turn FROM turns"):
        for ids in ((json.loads(resp) or {}).get("prompt_token_ids") if resp else None,
                    json.loads(turn).get("prompt_ids")):
            decoded.append(tok.decode(ids or []))
    db.close()
    leaks = [s for _, s, _ in corpus if s in "\n".join(decoded)]
    assert not leaks, f"{len(leaks)} of 200 secrets can be decoded from stored token ids"


@pytest.mark.timeout(600)
def test_a_user_who_opts_out_is_stored_as_sent(tmp_path):
    pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
    corpus = secret_corpus(seed=3, n=10)
    _serve_corpus(tmp_path, corpus, ScrubPolicy(opt_out=frozenset({"anonymous"})))
    text = b"".join(p.read_bytes() for p in (tmp_path / "run").glob("turns.sqlite*")).decode("latin-1")
    assert "[EMAIL]" not in text and corpus[0][1] in text  # e-mail first: stored as the user sent it

