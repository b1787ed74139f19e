"""The publish gate: candidate weights reach live traffic only if a held-out suite says they are not worse.

Contract:

* :meth:`PublishGate.publish` takes ``(state_dict, version)`` from the training loop and returns at once; a
  background thread evaluates the candidate on ``gate.suite`` (fixed seeds, so every version is scored on the
  same episodes; greedy decoding by default) while serving goes on with the current weights. Only every
  ``gate.every``-th version is a candidate; while one is being evaluated, newer ones replace the waiting one
  (latest wins; the replaced one is recorded as ``superseded``).
* A candidate is **published** iff ``mean(cand − last) ≥ −(δ + z·se)`` over the paired per-episode scores,
  where *last* is the last published version and *se* the standard error of the paired differences, i.e. it
  is rejected only when it is worse by more than δ beyond its measurement noise. A rejection leaves the
  served weights untouched. Every decision is one line of ``<root>/gate.jsonl`` with its numbers.
* Published versions are saved as ``<root>/v<N>.pt`` (atomic rename) and listed in ``<root>/index.json``;
  the base version and the last ``gate.keep`` published versions stay on disk, older files are deleted.
  :meth:`PublishGate.rollback` serves any kept version again (one reference swap in
  :class:`~claw_trainer.serving.policy.ServedPolicy`, so requests in flight finish on the weights they
  started with). A restarted gate serves the version ``index.json`` names, so a rollback done while no
  server ran (``claw rollback`` falls back to editing the index) takes effect at the next start.
* Drift: the KL of the served policy to the base on a fixed probe set (completions greedily sampled from the
  base once; KL(served ‖ base) of the full next-token distributions, averaged over their tokens).
* :meth:`PublishGate.mount` adds ``POST /admin/rollback`` (``Authorization: Bearer <token>``, the token in
  ``<root>/admin.token``, mode 0600) and a ``gate`` block in ``/health`` to a FastAPI app.

This module imports nothing heavy at import time (torch and gymnasium are imported where used).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import secrets
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from claw_envs.core.errors import ConfigError

log = logging.getLogger(__name__)

METRICS = ("return", "success")
DEFAULT_PROBES = ("Say hello.", "What is 2 + 3?", "Name a colour.", "List three fruits.")


@dataclass
class GateConfig:
    """``gate.*`` keys. ``suite``: ``{env: id, kwargs: {...}, seeds: [...]}`` or ``{env, episodes, seed}``."""

    enabled: bool = False
    suite: dict[str, Any] = field(default_factory=dict)
    metric: str = "return"  # return (sum of the env's rewards) | success (return > 0)
    delta: float = 0.05  # tolerated drop of the metric versus the last published version
    z: float = 1.64  # noise allowance in standard errors of the paired difference (one-sided 95 %)
    every: int = 1  # evaluate every N-th version; the others are never served
    keep: int = 3  # published versions kept on disk (besides the base)
    temperature: float = 0.0  # suite sampling temperature (0 = greedy: deterministic decisions)
    sample_seed: int = 0  # torch seed before each suite run when temperature > 0
    max_new_tokens: int = 0  # 0 = the served policy's
    probes: list[str] = field(default_factory=lambda: list(DEFAULT_PROBES))  # drift probe prompts
    probe_tokens: int = 16

    def seeds(self) -> list[int]:
        s = self.suite
        if "seeds" in s:
            return [int(x) for x in s["seeds"]]
        return list(range(int(s.get("seed", 0)), int(s.get("seed", 0)) + int(s.get("episodes", 0))))

    def validate(self) -> GateConfig:
        unknown = set(self.suite) - {"env", "kwargs", "seeds", "episodes", "seed", "num_envs"}
        if unknown:
            raise ConfigError(f"gate.suite: unknown keys {sorted(unknown)}; valid: env, kwargs, seeds | episodes "
                              "+ seed, num_envs")
        if not self.suite.get("env"):
            raise ConfigError("gate.suite.env is required: a registered env id (e.g. claw/Chat-v0) or module:Class")
        if not self.seeds():
            raise ConfigError("gate.suite needs seeds: [..] or episodes: N (held-out episodes to score)")
        if self.metric not in METRICS:
            raise ConfigError(f"gate.metric must be one of {', '.join(METRICS)}; got {self.metric!r}")
        if self.every < 1 or self.keep < 1 or self.delta < 0 or self.z < 0:
            raise ConfigError("gate.every and gate.keep must be ≥ 1; gate.delta and gate.z ≥ 0")
        return self

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GateConfig:
        names = {f for f in cls.__dataclass_fields__}
        bad = set(d) - names
        if bad:
            raise ConfigError(f"gate: unknown keys {sorted(bad)}; valid keys: {', '.join(sorted(names))}")
        return cls(**d)


# -- on-disk versions ----------------------------------------------------------------------------------------
class VersionStore:
    """``v<N>.pt`` weight files, ``index.json`` (served, base, published versions + their suite scores) and
    the decision log ``gate.jsonl``; every write is atomic (temp file + rename)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.index_path, self.log_path = self.root / "index.json", self.root / "gate.jsonl"
        self._lock = threading.Lock()

    def index(self) -> dict[str, Any]:
        if not self.index_path.is_file():
            return {"served": None, "base": None, "published": {}}
        return json.loads(self.index_path.read_text())

    def _write_index(self, idx: dict[str, Any]) -> None:
        tmp = self.index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(idx, indent=1))
        os.replace(tmp, self.index_path)

    def path(self, version: int) -> Path:
        return self.root / f"v{version}.pt"

    def save(self, version: int, state: dict[str, Any], scores: list[float], base: bool = False) -> None:
        import torch

        tmp = self.path(version).with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path(version))
        with self._lock:
            idx = self.index()
            idx["published"][str(version)] = {"scores": scores, "time": time.time()}
            if base:
                idx["base"] = version
            self._write_index(idx)

    def load(self, version: int) -> dict[str, Any]:
        import torch

        if str(version) not in self.index()["published"] or not self.path(version).is_file():
            raise ConfigError(f"version {version} is not on disk; kept versions: {self.kept()}")
        return torch.load(self.path(version), weights_only=True)

    def kept(self) -> list[int]:
        return sorted(int(v) for v in self.index()["published"] if self.path(int(v)).is_file())

    def scores(self, version: int) -> list[float]:
        return list(self.index()["published"][str(version)]["scores"])

    def set_served(self, version: int) -> None:
        with self._lock:
            idx = self.index()
            idx["served"] = version
            self._write_index(idx)

    def prune(self, keep: int) -> list[int]:
        """Delete all but the base, the served and the ``keep`` newest published versions; returns the deleted."""
        with self._lock:
            idx = self.index()
            versions = sorted(int(v) for v in idx["published"])
            protect = {idx["base"], idx["served"], *[v for v in versions if v != idx["base"]][-keep:]}
            gone = [v for v in versions if v not in protect]
            for v in gone:
                self.path(v).unlink(missing_ok=True)
                del idx["published"][str(v)]
            self._write_index(idx)
        return gone

    def record(self, decision: dict[str, Any]) -> None:
        with self._lock, self.log_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(decision) + "\n")

    def decisions(self) -> list[dict[str, Any]]:
        if not self.log_path.is_file():
            return []
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def token(self) -> str:
        """The admin token (created on first use, readable by the owner only)."""
        p = self.root / "admin.token"
        if not p.is_file():
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(24))
        return p.read_text().strip()


def request_rollback(root: str | Path, version: int, url: str | None = None, timeout: float = 120.0
                     ) -> tuple[str, dict[str, Any]]:
    """``claw rollback``: ask the running server to serve ``version``; edit the index when none answers.

    ``root`` is the gate's folder (``<output_dir>/versions``); ``url`` defaults to the one the server wrote
    to ``<root>/server.json``. Returns ``("server", status)`` or ``("offline", index)``; raises
    ``ConfigError`` for an unknown version, a refused token or a server error.
    """
    import httpx

    store = VersionStore(root)
    if not store.index_path.is_file():
        raise ConfigError(f"{root} holds no gated versions (no index.json): was the run served with gate.enabled?")
    if url is None and (store.root / "server.json").is_file():
        url = json.loads((store.root / "server.json").read_text()).get("url")
    if url:
        try:
            r = httpx.post(url.rstrip("/") + "/admin/rollback", json={"version": int(version)},
                           headers={"Authorization": f"Bearer {store.token()}"}, timeout=timeout)
        except httpx.TransportError:
            r = None  # nothing listens there: switch the index for the next start
        if r is not None:
            if r.status_code != 200:
                raise ConfigError(f"{url} refused the rollback ({r.status_code}): {r.text[:300]}")
            return "server", r.json()
    if int(version) not in store.kept():
        raise ConfigError(f"version {version} is not on disk; kept versions: {store.kept()}")
    store.set_served(int(version))
    store.record({"time": time.time(), "version": int(version), "decision": "rollback", "served": int(version),
                  "reason": "offline: applied at the next start"})
    return "offline", store.index()


def attach_gate(stack: Any, cfg: GateConfig | dict[str, Any]) -> PublishGate:
    """Gate a :class:`~claw_trainer.serving.stack.ServeStack`: its training loops publish through the gate,
    its app gets the admin routes and the ``gate`` block in ``/health``; versions live in
    ``<train.output_dir>/versions``. Call before ``stack.start()``; stop the returned gate with the stack."""
    gate_cfg = GateConfig.from_dict(cfg) if isinstance(cfg, dict) else cfg
    gate = PublishGate(stack.policy, gate_cfg, Path(stack.cfg.train.output_dir) / "versions")
    if stack.loops is not None:
        stack.loops.policy = gate  # the publish step calls policy.publish: now the gate's
    gate.mount(stack.app)
    gate.advertise(f"http://{stack.host}:{stack.port}")
    return gate.start()


# -- evaluation ----------------------------------------------------------------------------------------------
def make_env(env_id: str, kwargs: dict[str, Any] | None = None) -> Any:
    """A registered gymnasium id (claw ids are registered on import) or a ``module:Class`` entry point."""
    import gymnasium as gym

    import claw_envs  # noqa: F401  (registers the claw ids)

    if env_id in gym.registry:
        return gym.make(env_id, **(kwargs or {}))
    if ":" in env_id:
        from gymnasium.envs.registration import load_env_creator

        try:
            return load_env_creator(env_id)(**(kwargs or {}))
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"gate.suite.env {env_id!r}: cannot load it ({e})") from e
    raise ConfigError(f"gate.suite.env {env_id!r} is neither a registered env id nor a module:Class entry point")


class SuiteEvaluator:
    """Scores weights on the suite's fixed episodes: one float per episode (return, or success as 0/1)."""

    def __init__(self, cfg: GateConfig, template: Any, tokenizer: Any, max_new_tokens: int):
        import copy

        self.cfg, self.tokenizer = cfg, tokenizer
        self.model = copy.deepcopy(template).eval()  # the gate's own copy: serving's model is never touched
        self.max_new_tokens = cfg.max_new_tokens or max_new_tokens

    def scores(self, state: dict[str, Any]) -> list[float]:
        import torch

        from claw_envs.vector import ClawVectorEnv
        from claw_trainer.credit import episode_return
        from claw_trainer.policy.hf import HFPolicy
        from claw_trainer.rollout import collect_episodes

        self.model.load_state_dict(state)
        self.model.eval()
        seeds, suite = self.cfg.seeds(), self.cfg.suite
        n = max(1, min(int(suite.get("num_envs", 8)), len(seeds)))
        vec = ClawVectorEnv([lambda: make_env(suite["env"], suite.get("kwargs"))] * n)
        policy = HFPolicy(self.model, self.tokenizer, self.max_new_tokens, self.cfg.temperature)
        if self.cfg.temperature > 0:
            torch.manual_seed(self.cfg.sample_seed)
        out: list[float] = []
        try:
            for i in range(0, len(seeds), n):
                chunk = seeds[i:i + n]
                padded = chunk + [chunk[-1]] * (n - len(chunk))
                episodes = collect_episodes(vec, policy, padded, str(suite["env"]))[:len(chunk)]
                for ep in episodes:
                    r = episode_return(ep)
                    out.append(float(r > 0) if self.cfg.metric == "success" else float(r))
        finally:
            vec.close()
        return out


class DriftProbe:
    """KL(served ‖ base) on fixed probe completions sampled greedily from the base once."""

    def __init__(self, base: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int = 16):
        import torch

        from claw_trainer.policy.hf import HFPolicy

        samples = HFPolicy(base, tokenizer, max_new_tokens, 0.0).sample([[{"role": "user", "content": p}]
                                                                          for p in prompts]) if prompts else []
        self.seqs = [(list(s.prompt_ids), list(s.completion_ids)) for s in samples if s.completion_ids]
        with torch.no_grad():
            self.base_logp = [self._logp(base, p, c) for p, c in self.seqs]

    @staticmethod
    def _logp(model: Any, prompt: list[int], completion: list[int]) -> Any:
        import torch

        ids = torch.tensor([prompt + completion], device=model.device)
        logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1].float()
        return logits.log_softmax(-1)

    def kl(self, model: Any) -> float | None:
        import torch

        if not self.seqs:
            return None
        total, n = 0.0, 0
        with torch.no_grad():
            for (p, c), base in zip(self.seqs, self.base_logp, strict=True):
                lp = self._logp(model, p, c)
                total += float((lp.exp() * (lp - base)).sum(-1).sum())
                n += len(c)
        return total / max(n, 1)


def compare(cand: list[float], last: list[float], delta: float, z: float) -> dict[str, Any]:
    """The gate's rule on paired per-episode scores (see the module docstring)."""
    d = [c - b for c, b in zip(cand, last, strict=True)]
    mean = statistics.fmean(d)
    se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else 0.0
    threshold = -(delta + z * se)
    return {"diff": mean, "diff_se": se, "threshold": threshold, "passed": mean >= threshold}


# -- the gate ------------------------------------------------------------------------------------------------
class PublishGate:
    """Wraps a :class:`~claw_trainer.serving.policy.ServedPolicy`'s publishing (see the module docstring).

    ``gate.publish(state, version)`` is the drop-in for ``policy.publish`` in a training loop; ``version``
    and ``sample`` pass through to the served policy, so the gate can stand where the policy stood.
    """

    def __init__(self, policy: Any, cfg: GateConfig, root: str | Path, base_model: Any | None = None):
        self.policy, self.cfg = policy, cfg.validate()
        self.store = VersionStore(root)
        model, _ = policy._current
        self.evaluator = SuiteEvaluator(cfg, model, policy.tokenizer, policy.max_new_tokens)
        self.drift_probe = DriftProbe(base_model if base_model is not None else model, policy.tokenizer,
                                      list(cfg.probes), cfg.probe_tokens)
        self._pending: tuple[dict[str, Any], int] | None = None
        self._cv = threading.Condition()
        self._swap = threading.Lock()  # publish / rollback: one swap at a time
        self._stop = threading.Event()
        self._ready = threading.Event()  # the base is scored (or the indexed version restored)
        self._thread: threading.Thread | None = None
        self.evaluating: int | None = None
        self.drift: float | None = None
        self.counts = {"published": 0, "rejected": 0, "superseded": 0, "skipped": 0, "rollback": 0}

    # -- the served policy's interface --------------------------------------------------------------------
    @property
    def version(self) -> int:
        return self.policy.version

    def __getattr__(self, name: str) -> Any:  # sample, sample_batch, tokenizer...: the served policy's
        if name == "policy":
            raise AttributeError(name)
        return getattr(self.policy, name)

    def publish(self, state: dict[str, Any], version: int) -> None:
        """Queue a candidate for evaluation (never blocks)."""
        if version % self.cfg.every:
            self._decide({"version": version, "decision": "skipped", "reason": f"not a multiple of every={self.cfg.every}"})
            return
        with self._cv:
            if self._pending is not None:
                self._decide({"version": self._pending[1], "decision": "superseded", "reason": f"v{version} is newer"})
            self._pending = ({k: v.detach().clone() for k, v in state.items()}, version)
            self._cv.notify()

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> PublishGate:
        """Restore the version the index says to serve (at once), score the base if new (in the background),
        then gate candidates."""
        idx = self.store.index()
        if idx["base"] is not None and idx["served"] is not None and idx["served"] != self.policy.version:
            self._switch(int(idx["served"]), "restored")
        self._thread = threading.Thread(target=self._loop, daemon=True, name="claw-gate")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        if self._thread:
            self._thread.join(timeout=120)

    def wait_idle(self, timeout: float = 120.0) -> bool:
        """True once nothing is pending or being evaluated (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cv:
                if self._ready.is_set() and self._pending is None and self.evaluating is None:
                    return True
            time.sleep(0.05)
        return False

    def _loop(self) -> None:
        try:
            self._init_base()
        except Exception:  # noqa: BLE001 — a broken suite must not take serving down; it is logged
            log.exception("publish gate: scoring the base failed; candidates will be rejected")
        self._ready.set()
        while not self._stop.is_set():
            with self._cv:
                while self._pending is None and not self._stop.is_set():
                    self._cv.wait(0.5)
                if self._stop.is_set():
                    return
                state, version = self._pending
                self._pending = None
                self.evaluating = version
            try:
                self._evaluate(state, version)
            except Exception as e:  # noqa: BLE001 — reject, keep serving
                log.exception("publish gate: evaluating v%s failed", version)
                self._decide({"version": version, "decision": "rejected", "reason": f"evaluation failed: {e}"})
            finally:
                self.evaluating = None

    def _init_base(self) -> None:
        idx = self.store.index()
        if idx["base"] is None:
            model, version = self.policy._current
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            t0 = time.time()
            scores = self.evaluator.scores(state)
            self.store.save(version, state, scores, base=True)
            self.store.set_served(version)
            self.drift = 0.0
            self._decide({"version": version, "decision": "baseline", **self._stats(scores), "drift_kl": 0.0,
                          "eval_s": round(time.time() - t0, 3)})

    # -- deciding ---------------------------------------------------------------------------------------
    @staticmethod
    def _stats(scores: list[float]) -> dict[str, Any]:
        se = statistics.stdev(scores) / math.sqrt(len(scores)) if len(scores) > 1 else 0.0
        return {"metric": statistics.fmean(scores), "stderr": se, "n": len(scores)}

    def _decide(self, d: dict[str, Any]) -> None:
        d = {"time": time.time(), **d, "served": d.get("served", self.policy.version)}
        if d["decision"] in self.counts:
            self.counts[d["decision"]] += 1
        self.store.record(d)
        log.info("publish gate: v%s %s", d.get("version"), d["decision"])

    def _evaluate(self, state: dict[str, Any], version: int) -> None:
        t0 = time.time()
        last = self.policy.version
        scores = self.evaluator.scores(state)
        base_scores = self.store.scores(last)
        verdict = compare(scores, base_scores, self.cfg.delta, self.cfg.z)
        drift = self.drift_probe.kl(self.evaluator.model)  # the candidate's weights are loaded there
        d = {"version": version, **self._stats(scores), "baseline": statistics.fmean(base_scores),
             "baseline_version": last, **{k: verdict[k] for k in ("diff", "diff_se", "threshold")},
             "delta": self.cfg.delta, "drift_kl": drift, "eval_s": round(time.time() - t0, 3)}
        if not verdict["passed"]:
            self._decide({**d, "decision": "rejected", "reason": f"{self.cfg.metric} {d['metric']:.3f} vs "
                          f"{d['baseline']:.3f} of v{last}: Δ {verdict['diff']:+.3f} < {verdict['threshold']:+.3f}"})
            return
        with self._swap:
            self.store.save(version, state, scores)
            self.policy.publish(state, version)
            self.store.set_served(version)
            self.drift = drift
        gone = self.store.prune(self.cfg.keep)
        self._decide({**d, "decision": "published", "pruned": gone})

    # -- rollback --------------------------------------------------------------------------------------
    def _switch(self, version: int, decision: str) -> None:
        state = self.store.load(version)
        with self._swap:
            self.policy.publish(state, version)
            self.store.set_served(version)
        model, _ = self.policy._current
        self.drift = self.drift_probe.kl(model)
        self._decide({"version": version, "decision": decision, "drift_kl": self.drift})

    def rollback(self, version: int) -> dict[str, Any]:
        """Serve kept ``version`` from now on (atomically); raises ``ConfigError`` if it is not kept."""
        self._switch(int(version), "rollback")
        return self.status()

    def status(self) -> dict[str, Any]:
        decisions = self.store.decisions()
        pending = self._pending
        return {"served_version": self.policy.version, "candidate": self.evaluating,
                "pending": pending[1] if pending else None, "kept_versions": self.store.kept(),
                "drift_kl": self.drift, "counts": dict(self.counts), "last_decisions": decisions[-5:],
                "config": {k: v for k, v in asdict(self.cfg).items() if k != "probes"}}

    # -- HTTP -----------------------------------------------------------------------------------------
    def advertise(self, url: str) -> None:
        """Tell ``claw rollback`` where the server listens (``<root>/server.json``)."""
        tmp = self.store.root / "server.json.tmp"
        tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
        os.replace(tmp, self.store.root / "server.json")

    def mount(self, app: Any) -> str:
        """Add ``POST /admin/rollback``, ``GET /admin/gate`` and a ``gate`` block in ``/health``; returns the token."""
        from fastapi import HTTPException, Request
        from starlette.concurrency import run_in_threadpool

        token = self.store.token()

        def authorize(request: Request) -> None:
            got = request.headers.get("authorization", "")
            if not got.startswith("Bearer ") or not hmac.compare_digest(got[7:].strip(), token):
                raise HTTPException(401, "admin endpoints need 'Authorization: Bearer <token>' "
                                         f"(the token is in {self.store.root / 'admin.token'})")

        async def rollback(request: Request) -> dict[str, Any]:
            authorize(request)
            try:
                body = await request.json()
                version = int(body["version"])
            except Exception as e:  # noqa: BLE001
                raise HTTPException(400, 'body must be {"version": N}') from e
            try:
                return await run_in_threadpool(self.rollback, version)
            except ConfigError as e:
                raise HTTPException(404, str(e)) from e

        async def gate_status(request: Request) -> dict[str, Any]:
            authorize(request)
            return {**self.status(), "decisions": self.store.decisions()}

        for fn in (rollback, gate_status):  # this module's annotations are strings: give FastAPI the class
            fn.__annotations__["request"] = Request
        app.post("/admin/rollback")(rollback)
        app.get("/admin/gate")(gate_status)

        health = next((r for r in app.router.routes if getattr(r, "path", None) == "/health"), None)
        if health is not None:  # extend the proxy's /health with the gate's public status
            app.router.routes.remove(health)
            inner = health.endpoint

            @app.get("/health")
            async def health_with_gate() -> Any:
                body = await inner()
                if not isinstance(body, dict):  # an error response (e.g. a dead loop): pass it on
                    return body
                s = self.status()
                return {**body, "gate": {k: s[k] for k in ("served_version", "candidate", "pending", "kept_versions",
                                                           "drift_kl", "counts", "last_decisions")}}
        return token
