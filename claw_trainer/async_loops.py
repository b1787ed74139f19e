"""Four asynchronous loops — env hosting / serving, judging, training, weight publishing — over bounded queues.

    producer (HTTP proxy or env rollouts) --ids--> [judge queue] --> judge loop --ids--> [train queue]
        --> train loop --(state dict, version)--> [publish queue, latest wins] --> publish loop --> ServedPolicy

Every turn is written to the :class:`~claw_trainer.store.TurnStore` before its id enters a queue, and
producers only ``put_nowait``: when a queue is full the id is skipped and picked up later by a backfill scan of
the store, so judging never blocks serving and a slow judge only delays when a turn becomes trainable. Each
training step saves an atomic checkpoint (weights, optimizer, batch ids) and then marks its batch trained; on
restart the store is reconciled with the checkpoint, so after a ``kill -9`` no recorded turn is lost or
trained twice.

Credit is :func:`~claw_trainer.credit.score_episodes`, the sync driver's (:meth:`AsyncLoops.score_pending`):
an env round is scored once all its turns are judged (whole episodes, GRPO groups by task, crashed episodes
dropped whole); a live (served) turn gets **personal-agent credit by default** — its judge's vote is its
advantage, no group normalisation, so ``method.group_norm`` does not apply to it — unless
``method.live_groups: prompt`` asks for GRPO groups of ``method.live_group_size`` turns answering the same
prompt across sessions (an incomplete group waits; no turn is dropped for being alone). Judged turns dropped
for lack of signal are counted and, while that happens, reported in ``/health`` (``signal.warning``), the
progress line of ``claw train --async`` and the log (:meth:`AsyncLoops.signal_snapshot`).

Failures stay local: a turn whose judging raises is marked ``dropped`` with the error as its reason; a sample
the learner cannot take (token ids outside the vocabulary, mismatched log-probs) is dropped before the step;
a training step that raises drops its batch with the error (so the same turns cannot kill the loop again
after a restart); a failed publish keeps serving the previous weights. Every loop keeps going, and its
error count, last error, liveness and queue depth show in ``/health`` (:meth:`AsyncLoops.health_snapshot`).
A loop that dies anyway (e.g. the store went away) is reported by :meth:`AsyncLoops.raise_if_dead`, which
``claw train --async`` and :meth:`wait_steps` call so a run fails loudly instead of waiting forever.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from claw_envs.prm.judge import Turn as JudgeTurn
from claw_trainer.credit import TrainSample, episode_return, score_episodes
from claw_trainer.guard import GuardStop
from claw_trainer.learner import Learner
from claw_trainer.rollout import Turn
from claw_trainer.serving.health import LoopHealth
from claw_trainer.serving.policy import ServedPolicy
from claw_trainer.store import TurnStore

log = logging.getLogger(__name__)


class AsyncLoops:
    def __init__(self, store: TurnStore, policy: ServedPolicy, learner: Learner, judge: Any = None,
                 hint_judge: Any = None, batch_size: int = 8, queue_size: int = 256, checkpoint: str | Path | None = None,
                 max_steps: int | None = None, on_step: Any = None):
        self.store, self.policy, self.learner = store, policy, learner
        self.judge, self.hint_judge = judge, hint_judge
        self.batch_size, self.max_steps, self.on_step = batch_size, max_steps, on_step
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.judge_q: queue.Queue[int] = queue.Queue(queue_size)
        self.train_q: queue.Queue[int] = queue.Queue(queue_size)
        self.publish_q: queue.Queue[tuple[dict, int]] = queue.Queue(1)
        self.publisher: Any = policy  # what the publish step publishes through (route_publishes: the gate)
        self._step_lock = threading.Lock()  # a training pass and a rebase never overlap
        self.stop_event = threading.Event()
        self.stats: Counter = Counter()
        self.history: list[dict[str, float]] = []
        self.halted: str | None = None  # why learning stopped for good (the collapse guard), else None
        self._threads: list[threading.Thread] = []
        self.health = LoopHealth()
        self._warned: float | None = None
        self.health.register("judge", self.judge_q.qsize)
        self.health.register("train", self.train_q.qsize)
        self.health.register("publish", self.publish_q.qsize)
        if self.checkpoint and self.checkpoint.is_file():  # resume: weights, then reconcile the store
            batch = learner.load(self.checkpoint)
            self.stats["reconciled"] = store.reconcile(learner.step, batch)
            store.set_meta(f"batch-{learner.step}", batch)
            policy.publish(learner.state_dict(), learner.step)

    # -- producers call this after recording a turn ------------------------------------------------------
    def notify(self, turn_id: int) -> None:
        try:
            self.judge_q.put_nowait(turn_id)
        except queue.Full:
            self.stats["judge_queue_full"] += 1  # the backfill scan will find it in the store

    # -- judging -----------------------------------------------------------------------------------------
    def _judge_one(self, turn_id: int) -> None:
        if not self.store.claim(turn_id):  # already judged (queued and found by a backfill scan)
            return
        rows = self.store.get([turn_id])
        if not rows:
            return
        _, turn, _ = rows[0]
        grouped = self.store.group_of(turn_id)[1] is not None  # an env round's turn: credited with its episode
        ns = turn.next_state
        judgement: dict[str, Any] = {"process": None, "hint": None}
        if not grouped and (ns is None or not ns.text) and not turn.reward_channels.get("outcome"):
            self.store.mark([turn_id], "dropped", reason="no next state")  # e.g. a session's closing turn
            self.stats["dropped_no_next_state"] += 1
            return
        if ns is not None and ns.text:
            jt = JudgeTurn.from_next_state(turn.action, ns, history=tuple(turn.messages or ()), step=turn.step)
            if self.judge is not None:
                judgement["process"] = self.judge.score(jt).score
            if self.hint_judge is not None:
                judgement["hint"] = self.hint_judge.score(jt).hint
        group = None
        if not grouped and self.learner.method.live_groups == "prompt":
            group = "prompt-" + hashlib.sha256(json.dumps(list(turn.prompt_ids)).encode()).hexdigest()[:24]
        self.store.set_judged(turn_id, judgement, group)
        self.stats["judged"] += 1
        try:
            self.train_q.put_nowait(turn_id)
        except queue.Full:
            pass  # the train loop reads judged turns from the store

    def _judge_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                ids = [self.judge_q.get(timeout=0.1)]
            except queue.Empty:
                ids = self.store.ids("recorded", 32)  # backfill: restarts, full queues
                if not ids:
                    continue
            for i in ids:
                try:
                    self._judge_one(i)
                except Exception as e:  # noqa: BLE001 - this turn is dropped, the loop goes on
                    self.health.error("judge", f"turn {i}", e)
                    self.store.mark([i], "dropped", reason=f"judge error: {type(e).__name__}: {e}"[:500])
                    self.stats["dropped_judge_error"] += 1
            self.health.beat("judge")

    # -- credit ------------------------------------------------------------------------------------------
    def _score(self, rows: list[tuple[int, Turn, dict | None]], targets: set[int], group_norm: bool,
               episodes_of_env: bool = False) -> None:
        """Score ``rows`` as one credit group with :func:`score_episodes`; store the credit of the ``targets``
        that are kept, drop the other targets with the reason (no signal, or their episode crashed)."""
        episodes: dict[Any, list[Turn]] = {}
        id_of: dict[int, int] = {}
        for i, turn, j in rows:
            turn.reward_channels = {**turn.reward_channels, "process": (j or {}).get("process")}
            turn.hint = (j or {}).get("hint")
            id_of[id(turn)] = i
            episodes.setdefault(turn.episode if episodes_of_env else i, []).append(turn)
        eps = [sorted(ep, key=lambda t: t.step) for ep in episodes.values()]
        samples, counts = score_episodes(eps, self.learner.method.loss, group_norm=group_norm)
        credits = {}
        for s in samples:
            i = id_of[id(s.turn)]
            if i in targets:
                ret = episode_return(next(ep for ep in eps if any(t is s.turn for t in ep))) if episodes_of_env \
                    else float(s.turn.reward_channels.get("process") or s.turn.reward_channels.get("outcome") or 0.0)
                credits[i] = {"a_rl": s.a_rl, "has_score": s.has_score, "has_hint": s.has_hint, "return": ret}
        self.store.set_credit(credits)
        crashed = {id_of[id(t)] for ep in eps if any(t.error for t in ep) for t in ep} & targets
        no_signal = targets - set(credits) - crashed
        self.store.mark(sorted(crashed), "dropped", reason="env error in its episode")
        self.store.mark(sorted(no_signal), "dropped", reason="no signal")
        self.stats["scored"] += len(targets)
        self.stats["dropped_env_error"] += len(crashed)
        self.stats["dropped_no_signal"] += len(no_signal)
        if group_norm and counts.get("alone"):
            self.stats["dropped_alone"] += min(counts["alone"], len(no_signal))

    def score_pending(self) -> None:
        """Give credit to every judged turn whose group is complete — the same :func:`score_episodes` the sync
        driver runs: an env round once none of its turns awaits judging (whole episodes, GRPO groups by task,
        crashed episodes dropped whole); a live turn alone (personal-agent credit: the vote is the advantage)
        or, with ``method.live_groups: prompt``, once ``method.live_group_size`` turns share its prompt. A turn
        is never dropped for being alone in a window: an incomplete group waits."""
        method = self.learner.method
        for group, size, _ in self.store.unscored_groups():
            members = self.store.members(group)
            if size is not None:  # an env round: wait until every member is judged (or dropped)
                if len(members) < size or any(st in ("recorded", "judging") for _, st, _, _, _ in members):
                    continue
                targets = set(self.store.unscored_in(group))  # judged, not credited yet
                # credited or trained members keep counting toward the group's statistics
                rows = [(i, t, j) for i, st, t, j, _ in members]
                self._score(rows, targets, method.group_norm, episodes_of_env=True)
            else:  # live prompt group: full groups of live_group_size, oldest first
                waiting = [(i, t, j) for i, st, t, j, _ in members if st == "judged"]
                unscored = set(self.store.unscored_in(group))
                waiting = [r for r in waiting if r[0] in unscored]
                k = method.live_group_size
                for g in range(0, len(waiting) - k + 1, k):
                    chunk = waiting[g:g + k]
                    self._score(chunk, {i for i, _, _ in chunk}, True)
        singles = self.store.unscored(4 * self.batch_size)
        for row in self.store.get(singles):  # personal-agent credit: each live turn on its own, raw vote
            self._score([row], {row[0]}, False)
        self._report_signal()

    def signal_snapshot(self) -> dict[str, Any]:
        """How many judged turns were scored and how many of them were dropped for lack of signal, with a
        warning while turns are being dropped that way (shown in ``/health``, the progress line and the log)."""
        m, n, alone = self.stats["scored"], self.stats["dropped_no_signal"], self.stats["dropped_alone"]
        warning = None
        if n and (alone or 2 * n >= m):
            warning = (f"{n} of {m} judged turns dropped: no signal — group_norm on groups of one?" if alone else
                       f"{n} of {m} judged turns dropped: no signal (votes of 0 or no valid vote)")
        return {"judged": m, "dropped_no_signal": n, "alone_in_group": alone, "trained": self.stats["trained"],
                "warning": warning}

    def _report_signal(self) -> None:
        w = self.signal_snapshot()["warning"]
        if w and (self._warned is None or time.monotonic() - self._warned > 30):  # at once, then every 30 s
            log.warning("claw learner: %s", w)
            self._warned = time.monotonic()

    # -- training ----------------------------------------------------------------------------------------
    def train_once(self) -> bool:
        """Credit judged turns, drop the unusable and the too stale; train one batch if there is one. True if
        it trained."""
        self.score_pending()
        samples, ids_of, returns = [], {}, {}
        for i, turn, j, c in self.store.credited(4 * self.batch_size):
            turn.reward_channels = {**turn.reward_channels, "process": (j or {}).get("process")}
            turn.hint = (j or {}).get("hint")
            s = TrainSample(turn, float(c["a_rl"]), bool(c["has_score"]), bool(c["has_hint"]))
            samples.append(s)
            ids_of[id(turn)], returns[id(turn)] = i, float(c.get("return", 0.0))
        bad = {id(s.turn): why for s in samples if (why := self._unusable(s))}
        for s in samples:
            if id(s.turn) in bad:
                self.store.mark([ids_of[id(s.turn)]], "dropped", reason=bad[id(s.turn)])
                self.stats["dropped_invalid"] += 1
        samples = [s for s in samples if id(s.turn) not in bad]
        usable, stale, weights = self.learner.split_stale(samples)
        self.store.mark([ids_of[id(s.turn)] for s in stale], "dropped", reason="stale")
        self.stats["dropped_stale"] += len(stale)
        if len(usable) < self.batch_size:
            return False
        batch, w = usable[:self.batch_size], weights[:self.batch_size]
        batch_ids = [ids_of[id(s.turn)] for s in batch]
        try:
            metrics = self.learner.train_step(batch, w)
        except GuardStop as e:  # method.guard: stop — learning halts (the batch stays judged), serving goes on
            self.halted = str(e)
            self.health.error("train", "collapse guard stopped learning; serving continues (restart to resume)", e)
            log.error("claw learner: the collapse guard stopped learning, serving continues: %s", e)
            return False
        except Exception as e:  # noqa: BLE001 - the batch is dropped with the reason, training goes on
            self.health.error("train", f"step on turns {batch_ids}", e)
            self.store.mark(batch_ids, "dropped", reason=f"learner error: {type(e).__name__}: {e}"[:500])
            self.stats["dropped_learner_error"] += len(batch_ids)
            return False
        if self.checkpoint:
            try:
                self.learner.save(self.checkpoint, batch_ids)
            except Exception as e:  # noqa: BLE001 - the weights did step on this batch: never train it again
                self.health.error("train", f"checkpoint after step {self.learner.step}", e)
                self.stats["save_errors"] += 1
        self.store.set_meta(f"batch-{self.learner.step}", batch_ids)
        self.store.mark(batch_ids, "trained", self.learner.step)
        metrics["reward"] = sum(returns[id(s.turn)] for s in batch) / len(batch)
        metrics["staleness"] = sum(self.learner.step - 1 - s.turn.policy_version for s in batch) / len(batch)
        self.history.append(metrics)
        self.stats["trained"] += len(batch)
        while True:  # latest weights win: replace an unpublished older version
            try:
                self.publish_q.put_nowait((self.learner.state_dict(), self.learner.step))
                break
            except queue.Full:
                try:
                    self.publish_q.get_nowait()
                except queue.Empty:
                    pass
        if self.on_step:
            self.on_step(metrics)
        return True

    def _unusable(self, sample: Any) -> str | None:
        """Why a sample cannot be trained on (malformed token data), or None."""
        t = sample.turn
        if not t.completion_ids:
            return "invalid sample: no completion token ids"
        if len(t.completion_ids) != len(t.logprobs):
            return f"invalid sample: {len(t.completion_ids)} completion ids but {len(t.logprobs)} log-probs"
        emb = getattr(self.learner.model, "get_input_embeddings", None)
        vocab = emb().num_embeddings if callable(emb) and emb() is not None else None
        if vocab and any(not 0 <= int(x) < vocab for x in (*t.prompt_ids, *t.completion_ids)):
            return f"invalid sample: token ids outside the model's vocabulary of {vocab}"
        return None

    def _train_loop(self) -> None:
        while not self.stop_event.is_set():
            self.health.beat("train")
            if self.halted or (self.max_steps is not None and self.learner.step >= self.max_steps):
                time.sleep(0.05)
                continue
            try:
                self.train_q.get(timeout=0.1)
            except queue.Empty:
                pass
            try:
                with self._step_lock:
                    self.train_once()
            except Exception as e:  # noqa: BLE001 - e.g. a store hiccup: shown in /health, retried next pass
                self.health.error("train", "train pass", e)
                time.sleep(0.5)

    def publish_now(self) -> None:
        """Publish pending weights in the caller's thread (the synchronous mode's 'loop')."""
        try:
            state, version = self.publish_q.get_nowait()
        except queue.Empty:
            return
        self.publish_step(state, version)

    def publish_step(self, state: dict, version: int) -> None:
        """The publish step: hand ``state`` as ``version`` to the publisher (the served policy, or a gate)."""
        self.publisher.publish(state, version)
        self.stats["published"] += 1

    def route_publishes(self, publisher: Any) -> None:
        """Publish trained versions through ``publisher.publish(state, version)`` (e.g. the publish gate)."""
        self.publisher = publisher

    def rebase(self, state: dict, version: int) -> int:
        """Reset the learner onto the served ``version``'s weights between training passes (the publish gate
        calls this after a rejection or a rollback): queued unpublished weights are dropped and the checkpoint
        is rewritten, so a restart resumes from the served weights. Returns the learner step it happened at."""
        with self._step_lock:
            self.learner.rebase(state, version)
            while True:
                try:
                    self.publish_q.get_nowait()
                except queue.Empty:
                    break
            if self.checkpoint and self.learner.step:
                self.learner.save(self.checkpoint, self.store.get_meta(f"batch-{self.learner.step}", []))
            return self.learner.step

    # -- publishing --------------------------------------------------------------------------------------
    def _publish_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                state, version = self.publish_q.get(timeout=0.1)
            except queue.Empty:
                self.health.beat("publish")
                continue
            try:
                self.publish_step(state, version)
            except Exception as e:  # noqa: BLE001 - the previous weights stay served
                self.health.error("publish", f"version {version}", e)
            self.health.beat("publish")

    def start(self) -> AsyncLoops:
        for name, fn in (("judge", self._judge_loop), ("train", self._train_loop), ("publish", self._publish_loop)):
            t = threading.Thread(target=self.health.run, args=(name, fn), name=f"claw-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for t in self._threads:
            t.join(timeout=30)

    def health_snapshot(self) -> dict[str, Any]:
        """Liveness, queue depth, error count and last error of every loop (shown in ``/health``)."""
        return self.health.snapshot()

    def raise_if_dead(self) -> None:
        """Raise :class:`~claw_trainer.serving.health.LoopDied` if any loop stopped on an error."""
        self.health.raise_if_dead()

    def wait_steps(self, steps: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.learner.step < steps:
            self.raise_if_dead()
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        while self.policy.version < steps and time.monotonic() < deadline:
            self.raise_if_dead()
            time.sleep(0.05)
        return self.policy.version >= steps
