"""``claw swe build --rewrite-statement``: a model behind an OpenAI-compatible server (a scripted one on
127.0.0.1, over real HTTP through the judge's backend) rewrites statements; a rewrite that holds any added or
removed line of the gold patch is rejected and the procedural statement kept, as on any failure."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from claw_envs.core.errors import ClawError, TaskError
from claw_envs.swe.build.rewrite import Rewriter, leaked_lines, parse_spec
from claw_envs.swe.build.validate import Outcome
from claw_envs.swe.instance import SWEInstance

GOLD = """diff --git a/calc.py b/calc.py
--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a - b
+    return a + b
"""
STATEMENT = ("A test fails: assert -1 == 3\n\nThese tests fail:\n- `tests/test_calc.py::test_add`\n\n"
             "Run it with `python -m pytest tests/test_calc.py::test_add`.\n")


class Scripted:
    """An OpenAI-compatible chat server on 127.0.0.1 answering ``reply(prompt)``; records the requests."""

    def __init__(self, reply):
        self.reply, self.requests = reply, []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # /v1/models
                self._send(200, {"object": "list", "data": [{"id": "scripted"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                text = outer.reply(body["messages"][-1]["content"])
                if text is None:
                    return self._send(500, {"error": "scripted failure"})
                self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": text}}]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _inst() -> SWEInstance:
    return SWEInstance("calc__1", "gen/calc", STATEMENT, ("tests/test_calc.py::test_add",), (), patch=GOLD,
                       extra={"meta": {"kind": "synthesized"}})


ISSUE = ("add() returns the wrong result\n\nCalling add(1, 2) gives -1, I expected 3. "
         "tests/test_calc.py::test_add fails with `assert -1 == 3`.")


def test_spec_parsing():
    assert parse_spec("http://127.0.0.1:8001/v1/smollm2") == ("http://127.0.0.1:8001/v1", "smollm2")
    assert parse_spec("http://h:1/v1/org/model-7b") == ("http://h:1/v1", "org/model-7b")
    assert parse_spec("http://h:1/v1/") == ("http://h:1/v1", "default")
    for bad in ("smollm2", "http://h:1/api"):
        with pytest.raises(ClawError):
            parse_spec(bad)


def test_leak_check_covers_added_and_removed_lines():
    assert leaked_lines("fix: `return a + b`", GOLD) == ["return a + b"]
    assert leaked_lines("the code does return   a - b today", GOLD) == ["return a - b"]  # whitespace squashed
    assert leaked_lines(ISSUE, GOLD) == []
    assert leaked_lines("def add(a, b): is wrong", GOLD) == []  # context lines are not the patch


@pytest.mark.parametrize("reply, used, why", [
    (lambda p: ISSUE, True, "rewritten by scripted"),
    (lambda p: ISSUE + "\nThe fix is\n    return a + b\n", False, "contains a line of the gold patch"),
    (lambda p: ISSUE + "\nThe code says `return a - b`.", False, "contains a line of the gold patch"),
    (lambda p: None, False, "rewrite failed: HTTPStatusError"),
    (lambda p: "  ", False, "empty or too short"),
])
def test_rewrite_used_or_rejected(reply, used, why):
    with Scripted(reply) as srv:
        rw = Rewriter.from_spec(srv.url + "/scripted")
        out = rw.apply(_inst())
        (req,) = srv.requests
    assert req["model"] == "scripted"
    prompt = req["messages"][-1]["content"]
    assert STATEMENT.strip() in prompt and "a + b" not in prompt  # the model never sees the fix
    assert out.problem_statement == (ISSUE + "\n" if used else STATEMENT)
    assert why in out.extra["meta"]["statement"] and out.extra["meta"]["kind"] == "synthesized"
    assert out.patch == GOLD and out.FAIL_TO_PASS == _inst().FAIL_TO_PASS


def test_cli_hook_rewrites_kept_outcomes_only_and_checks_the_server(tmp_path):
    from claw_envs.swe.build.cli import _rewriter, _rewritten, parser

    with Scripted(lambda p: ISSUE) as srv:
        args = parser().parse_args(["--pypi", "x==1", "--synthesize", "1", "--out", str(tmp_path),
                                    "--rewrite-statement", srv.url + "/scripted"])
        args.rewriter = _rewriter(args.rewrite_statement)
        kept = _rewritten(args, Outcome("calc__1", "kept", 1.0, _inst()))
        rejected = _rewritten(args, Outcome("calc__2", "no_test_fails", 1.0))
        assert len(srv.requests) == 1
    assert kept.instance.problem_statement.startswith("add() returns") and rejected.instance is None
    row = kept.instance.claw_row()
    assert row["problem_statement"].startswith("add() returns") and row["claw_meta"]["statement"] == \
        "rewritten by scripted"
    with pytest.raises(TaskError, match="--rewrite-statement: the judge at http://127.0.0.1:9/v1 cannot be reached"):
        _rewriter("http://127.0.0.1:9/v1/m")
