"""The publish gate: candidate weights reach live traffic only if a held-out suite says they are not worse.

Contract:

* :meth:`PublishGate.publish` takes ``(state_dict, version)`` from the training loop and returns at once; a
  background thread evaluates the candidate on ``gate.suite`` (fixed seeds, so every version is scored on the
  same episodes; greedy decoding by default) while serving goes on with the current weights. Only every
  ``gate.every``-th version is a candidate; while one is being evaluated, newer ones replace the waiting one
  (latest wins; the replaced one is recorded as ``superseded``).
* Acceptance is :func:`~claw_trainer.gate.decision.decide`: non-inferior to the last published version (a
  one-sided test at level α with margin δ; exact on binary suites), within δ of the base, and a drift KL to
  the base under ``max_drift_kl``. A rejection leaves the served weights untouched. Every decision is one line
  of ``<root>/gate.jsonl`` with its numbers.
* **Gate ↔ learner**: the gate holds the learner only through :class:`Lineage` (``rebase(state, version) ->
  step``). After a rejection or a rollback it re-bases the learner on the served weights, and candidates
  trained before that step (they descend from the abandoned weights) are ``discarded``; so the learner keeps
  stepping, its staleness counts from the served version, and its next candidate descends from what is served.
  :meth:`PublishGate.start` re-bases a restarted learner the same way. ``gate.every ≤ max_staleness`` is
  checked when a learner is attached (:meth:`~claw_trainer.gate.config.GateConfig.check_staleness`).
* Published versions are saved as ``<root>/v<N>.pt`` (atomic rename) and listed in ``<root>/index.json``;
  the base version and the last ``gate.keep`` published versions stay on disk, older files are deleted.
  :meth:`PublishGate.rollback` serves any kept version again (one ``publish`` into the served policy, so
  requests in flight finish on the weights they started with). A restarted gate serves the version
  ``index.json`` names, so a rollback done while no server ran (``claw rollback`` edits the index) takes
  effect at the next start.
* The served policy is used through :class:`Served` only (``current()``, ``publish()``, ``version``,
  ``tokenizer``, ``max_new_tokens``); the admin API is :mod:`claw_trainer.gate.admin`.

This module imports nothing heavy at import time (torch and gymnasium are imported where used).
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from claw_trainer.gate.config import GateConfig
from claw_trainer.gate.decision import decide, is_binary
from claw_trainer.gate.evaluator import DriftProbe, SuiteEvaluator
from claw_trainer.gate.versions import VersionStore

log = logging.getLogger(__name__)

COUNTED = ("published", "rejected", "superseded", "skipped", "discarded", "rollback", "rebased")


class Served(Protocol):
    """What the gate needs of the served policy (:class:`~claw_trainer.serving.policy.ServedPolicy`)."""

    tokenizer: Any
    max_new_tokens: int

    @property
    def version(self) -> int: ...

    def current(self) -> tuple[Any, int]: ...

    def publish(self, state_dict: dict[str, Any], version: int) -> None: ...


class Lineage(Protocol):
    """What the gate needs of the learner (:meth:`claw_trainer.async_loops.AsyncLoops.rebase`): reset its
    weights to the served ``version``'s and return the learner step at which that happened."""

    def rebase(self, state_dict: dict[str, Any], version: int) -> int: ...


def _clone(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in state.items()}


class PublishGate:
    """Gates a served policy's publishing (see the module docstring). ``publish(state, version)`` stands where
    the served policy's ``publish`` stood in a training loop."""

    def __init__(self, policy: Served, cfg: GateConfig, root: str | Path):
        self.policy, self.cfg = policy, cfg.validate()
        self.store = VersionStore(root)
        model, _ = policy.current()
        self.evaluator = SuiteEvaluator(cfg, model, policy.tokenizer, policy.max_new_tokens)
        idx = self.store.index()
        base = model
        if idx["base"] is not None:  # a restart: drift is measured against the first served weights, not these
            self.evaluator.model.load_state_dict(self.store.load(int(idx["base"])))
            base = self.evaluator.model
        self.drift_probe = DriftProbe(base, policy.tokenizer, list(cfg.probes), cfg.probe_tokens)
        self.lineage: Lineage | None = None
        self.rebased_at = -1  # candidates trained at or before this learner step descend from abandoned weights
        self._pending: tuple[dict[str, Any], int] | None = None
        self._cv = threading.Condition()
        self._swap = threading.RLock()  # publish / rollback / rebase: one at a time
        self._stop = threading.Event()
        self._ready = threading.Event()  # the base is scored (or the indexed version restored)
        self._thread: threading.Thread | None = None
        self.evaluating: int | None = None
        self.drift: float | None = None
        self.counts = dict.fromkeys(COUNTED, 0)
        if cfg.metric == "success" and len(cfg.seeds()) < cfg.min_binary_episodes():
            need = f"{cfg.min_binary_episodes()} episodes needed" if cfg.delta > 0 else "it needs gate.delta > 0"
            log.warning("publish gate: with %d binary episodes and δ=%s a candidate that wins no episode can never "
                        "pass (%s for a tie to pass): only improvements will be published", len(cfg.seeds()),
                        cfg.delta, need)

    # -- wiring ---------------------------------------------------------------------------------------------
    def attach_learner(self, lineage: Lineage, max_staleness: int) -> PublishGate:
        """Re-base ``lineage`` on the served weights after every rejection and rollback (call before start)."""
        self.cfg.check_staleness(max_staleness)
        self.lineage = lineage
        return self

    @property
    def version(self) -> int:
        """The served version."""
        return self.policy.version

    def publish(self, state: dict[str, Any], version: int) -> None:
        """Queue a candidate for evaluation (never blocks)."""
        if version <= self.rebased_at:
            self._decide({"version": version, "decision": "discarded",
                          "reason": f"trained before the learner was re-based at step {self.rebased_at}"})
            return
        if version % self.cfg.every:
            self._decide({"version": version, "decision": "skipped", "reason": f"not a multiple of every={self.cfg.every}"})
            return
        with self._cv:
            if self._pending is not None:
                self._decide({"version": self._pending[1], "decision": "superseded", "reason": f"v{version} is newer"})
            self._pending = (_clone(state), version)
            self._cv.notify()

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> PublishGate:
        """Restore the version the index says to serve and re-base the learner on it (at once), score the base
        if new (in the background), then gate candidates."""
        idx = self.store.index()
        if idx["base"] is not None and idx["served"] is not None:
            if idx["served"] != self.policy.version:
                self._switch(int(idx["served"]), "restored")
            self._rebase("restart: the learner resumes from the served weights")
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
            except Exception as e:  # noqa: BLE001 — reject, keep serving, keep learning
                log.exception("publish gate: evaluating v%s failed", version)
                self._decide({"version": version, "decision": "rejected", "reason": f"evaluation failed: {e}"})
                self._rebase(f"v{version} could not be evaluated")
            finally:
                self.evaluating = None

    def _init_base(self) -> None:
        if self.store.index()["base"] is not None:
            return
        model, version = self.policy.current()
        state = _clone(model.state_dict())
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
        log.info("publish gate: v%s %s%s", d.get("version"), d["decision"], f" ({d['reason']})" if "reason" in d else "")

    def _evaluate(self, state: dict[str, Any], version: int) -> None:
        t0 = time.time()
        last = self.policy.version
        scores = self.evaluator.scores(state)
        drift = self.drift_probe.kl(self.evaluator.model)  # the candidate's weights are loaded there
        idx = self.store.index()
        last_scores, base_scores = self.store.scores(last), self.store.scores(int(idx["base"]))
        binary = self.cfg.metric == "success" or is_binary(scores, last_scores, base_scores)
        v = decide(scores, last_scores, base_scores, drift, self.cfg.delta, self.cfg.alpha, self.cfg.max_drift_kl,
                   binary)
        d = {"version": version, **self._stats(scores), "baseline": statistics.fmean(last_scores),
             "baseline_version": last, "base_version": int(idx["base"]),
             **{k: v[k] for k in ("test", "diff", "diff_se", "threshold", "diff_base", "checks", "delta", "alpha",
                                  "max_drift_kl")},
             **{k: v[k] for k in ("p_value", "wins", "losses", "lcb") if k in v},
             "drift_kl": drift, "eval_s": round(time.time() - t0, 3)}
        if not v["passed"]:
            self._decide({**d, "decision": "rejected", "reason": "; ".join(v["reasons"])})
            self._rebase(f"v{version} rejected")
            return
        with self._swap:
            if version <= self.rebased_at or self.policy.version != last:  # a rollback happened meanwhile
                self._decide({**d, "decision": "discarded", "reason": "the served version changed during evaluation"})
                return
            self.store.save(version, state, scores)
            self.policy.publish(state, version)
            self.store.set_served(version)
            self.drift = drift
        gone = self.store.prune(self.cfg.keep)
        self._decide({**d, "decision": "published", "pruned": gone})

    def _rebase(self, why: str) -> None:
        """Reset the learner onto the served weights and discard candidates trained before that."""
        if self.lineage is None:
            return
        with self._swap:
            model, version = self.policy.current()
            try:
                step = self.lineage.rebase(_clone(model.state_dict()), version)
            except Exception as e:  # noqa: BLE001 — serving goes on; the event says why learning may stall
                log.exception("publish gate: re-basing the learner on v%s failed", version)
                self._decide({"version": version, "decision": "rebase failed", "reason": f"{why}: {e}"})
                return
            with self._cv:
                self.rebased_at = max(self.rebased_at, step)
                pending, self._pending = self._pending, None
                if pending is not None and pending[1] > step:
                    self._pending = pending
                    pending = None
        if pending is not None:
            self._decide({"version": pending[1], "decision": "discarded",
                          "reason": f"descends from abandoned weights (learner re-based at step {step})"})
        self._decide({"version": version, "decision": "rebased", "learner_step": step, "reason": why})

    # -- rollback --------------------------------------------------------------------------------------
    def _switch(self, version: int, decision: str) -> None:
        state = self.store.load(version)
        with self._swap:
            self.policy.publish(state, version)
            self.store.set_served(version)
        self.drift = self.drift_probe.kl(self.policy.current()[0])
        self._decide({"version": version, "decision": decision, "drift_kl": self.drift})

    def rollback(self, version: int) -> dict[str, Any]:
        """Serve kept ``version`` from now on (atomically) and re-base the learner on it; raises
        ``ConfigError`` if it is not kept."""
        with self._swap:
            self._switch(int(version), "rollback")
            self._rebase(f"rollback to v{version}")
        return self.status()

    def status(self) -> dict[str, Any]:
        decisions = self.store.decisions()
        pending = self._pending
        return {"served_version": self.policy.version, "candidate": self.evaluating,
                "pending": pending[1] if pending else None, "kept_versions": self.store.kept(),
                "drift_kl": self.drift, "rebased_at": self.rebased_at, "counts": dict(self.counts),
                "last_decisions": decisions[-5:], "config": {k: v for k, v in asdict(self.cfg).items() if k != "probes"}}

    def health(self) -> dict[str, Any]:
        """The public part of :meth:`status` (the ``gate`` block of ``/health``)."""
        s = self.status()
        return {k: s[k] for k in ("served_version", "candidate", "pending", "kept_versions", "drift_kl", "rebased_at",
                                  "counts", "last_decisions")}
