"""``claw serve [--learn]``: the proxy, the durable store and (with ``--learn``) the judge/train/publish loops.

``ServeStack(cfg, learn=True).start()`` serves on ``cfg``'s host/port in a background thread; tests drive it
over HTTP on 127.0.0.1. State lives in ``train.output_dir``: ``turns.sqlite`` (every recorded turn) and
``learner.pt`` (the latest training step; a restart resumes from it without losing or repeating turns).

Credit (``--learn``): live turns get personal-agent credit by default — the judge's vote is the advantage, no
group normalisation — unless ``method.live_groups: prompt`` asks for GRPO groups of turns answering the same
prompt (see :class:`~claw_trainer.async_loops.AsyncLoops` and :data:`LEARN_HELP`). ``/health`` carries
``signal``: judged turns scored, how many were dropped for lack of signal, and a warning while that happens.

``upstream=URL`` forwards generation to an OpenAI-compatible server that returns token ids
(:class:`~claw_trainer.serving.upstream.UpstreamPolicy`) instead of loading ``cfg.model.name``; it records
and serves, but cannot learn (weights cannot be published into an upstream). ``api_keys``/``api_keys_file``
turn on authentication (:mod:`~claw_trainer.serving.auth`). ``stop()`` is graceful: new requests get 503,
requests in flight finish and are recorded, the loops stop, the store is closed; turns still waiting for
their next state stay in the store and are continued after a restart.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from claw_envs.core.errors import ConfigError
from claw_trainer.config import RunConfig

# `claw serve --learn --help` (the CLI shows this as the flag's help / epilog)
LEARN_HELP = """run the judge, train and publish loops alongside serving. The shortest config that learns:
  model: {name: tiny}        # or smollm2, or a local model directory
  judge: {backend: rules}    # or hf:<model> / an OpenAI-compatible judge URL; judge.hint adds OPD hints
Live turns get personal-agent credit: the judge's vote on the user's next message is the turn's advantage
(no group normalisation; method.group_norm applies to env rounds only). For GRPO groups of live turns set
method.live_groups: prompt (turns answering the same prompt, across sessions, in groups of
method.live_group_size). Turns dropped for lack of signal are reported in /health (signal) and the log."""


class ServeStack:
    def __init__(self, cfg: RunConfig, learn: bool = False, host: str = "127.0.0.1", port: int = 0,
                 default_turn_type: str = "main", idle_timeout: float | None = None, scrub_pii: bool = True,
                 batch_size: int | None = None, max_staleness: int = 4, stale: str = "drop",
                 max_steps: int | None = None, upstream: str | None = None, upstream_model: str | None = None,
                 upstream_api_key: str | None = None, api_keys: list[str] | None = None,
                 api_keys_file: str | None = None, max_batch: int = 8, max_pending: int = 64,
                 insecure: bool = False, extra_hosts: tuple[str, ...] = ()):
        import copy

        from claw_trainer.async_loops import AsyncLoops
        from claw_trainer.learner import Learner
        from claw_trainer.models import load_for_training, load_model
        from claw_trainer.run import make_judges
        from claw_trainer.serving.auth import Auth
        from claw_trainer.serving.policy import ServedPolicy
        from claw_trainer.serving.proxy import build_proxy
        from claw_trainer.serving.sessions import RETENTION_S, SessionRecorder
        from claw_trainer.serving.store import TurnStore
        from claw_trainer.serving.upstream import UpstreamPolicy

        self.cfg, self.learn = cfg, learn
        if upstream and learn:
            raise ConfigError("claw serve --upstream cannot --learn: trained weights cannot be published into an "
                              "upstream server; serve a local model (model.name) to learn, or drop --learn")
        from claw_envs.core.netguard import check_bind, guard_app

        auth = Auth.from_options(api_keys, api_keys_file)
        check_bind(host, auth.enabled, insecure, "claw serve")  # before anything is loaded
        out = Path(cfg.train.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.store = TurnStore(out / "turns.sqlite")
        if upstream:
            self.policy: Any = UpstreamPolicy(upstream, upstream_model, upstream_api_key, cfg.train.max_new_tokens,
                                              cfg.train.temperature)
        else:
            model, tok = load_for_training(cfg.model.name, cfg.train.dtype, cache_dir=cfg.model.cache_dir) if learn \
                else load_model(cfg.model.name, cache_dir=cfg.model.cache_dir)
            self.policy = ServedPolicy(copy.deepcopy(model), tok, cfg.train.max_new_tokens, cfg.train.temperature,
                                       max_batch=max_batch, max_pending=max_pending)
        self.loops = None
        if learn:
            if cfg.method.loss not in ("binary_rl", "opd", "combine"):
                raise ConfigError(f"claw serve --learn supports binary_rl, opd and combine, not {cfg.method.loss}")
            if cfg.judge.backend == "none" and cfg.judge.hint == "none":
                raise ConfigError("claw serve --learn learns from judged turns: set judge.backend and/or judge.hint")
            judge, hint = make_judges(cfg)
            learner = Learner.from_config(model, tok, cfg, max_staleness, stale)
            self.loops = AsyncLoops(self.store, self.policy, learner, judge, hint, batch_size or cfg.train.batch_size,
                                    checkpoint=out / "learner.pt", max_steps=max_steps)
        on_record = self.loops.notify if self.loops else None
        # retention of awaiting turns: idle_timeout seconds, or RETENTION_S (7 days) by default
        self.recorder = SessionRecorder(self.store, on_record, idle_timeout or RETENTION_S, scrub_pii)
        self.gate: Any = None  # gate.enabled: every candidate version is evaluated before it is served
        health = self._health
        self.app = build_proxy(self.policy, self.recorder, default_turn_type, auth=auth,
                               model_name=upstream_model or cfg.model.name, health=health)
        # served behind the Host / Origin guard (routes mounted on self.app later, e.g. the gate's, are guarded too)
        self._asgi = guard_app(self.app, host, auth.enabled, insecure, extra_hosts)
        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        self._server: Any = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        if cfg.gate.enabled and not upstream:  # also without --learn: kept versions and the rollback API
            from claw_trainer.gate import attach_gate

            self.gate = attach_gate(self, cfg.gate)

    def _health(self) -> dict[str, Any]:
        """The loops' and the gate's blocks of ``/health``."""
        out: dict[str, Any] = {}
        if self.loops:
            out.update(loops=self.loops.health_snapshot(), signal=self.loops.signal_snapshot())
        if self.gate:
            out["gate"] = self.gate.health()
        return out

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def _sweep(self) -> None:
        while not self._stop.wait(min(60.0, self.recorder.idle_timeout / 2)):
            self.recorder.sweep()

    def start(self) -> ServeStack:
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(self._asgi, host=self.host, port=self.port, log_level="warning"))
        self._threads = [threading.Thread(target=self._server.run, daemon=True, name="claw-serve"),
                         threading.Thread(target=self._sweep, daemon=True, name="claw-sweep")]
        for t in self._threads:
            t.start()
        if self.loops:
            self.loops.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if time.monotonic() > deadline or not self._threads[0].is_alive():
                raise ConfigError(f"claw serve did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Graceful: finish and record requests in flight, then stop the loops and close the store."""
        self._stop.set()
        if self._server:
            self._server.should_exit = True  # uvicorn stops accepting and waits for open requests
        for t in self._threads:
            t.join(timeout=60)
        self.policy.close()
        if self.loops:
            self.loops.stop()
        if self.gate:
            self.gate.stop()
        self.store.close()

    def __enter__(self) -> ServeStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        self.start()
        try:
            while self._threads[0].is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
