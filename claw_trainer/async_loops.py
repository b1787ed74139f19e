"""Four asynchronous loops — env hosting / serving, judging, training, weight publishing — over bounded queues.

    producer (HTTP proxy or env rollouts) --ids--> [judge queue] --> judge loop --ids--> [train queue]
        --> train loop --(state dict, version)--> [publish queue, latest wins] --> publish loop --> ServedPolicy

Every turn is written to the :class:`~claw_trainer.serving.store.TurnStore` before its id enters a queue, and
producers only ``put_nowait``: when a queue is full the id is skipped and picked up later by a backfill scan of
the store, so judging never blocks serving and a slow judge only delays when a turn becomes trainable. Each
training step saves an atomic checkpoint (weights, optimizer, batch ids) and then marks its batch trained; on
restart the store is reconciled with the checkpoint, so after a ``kill -9`` no recorded turn is lost or
trained twice.

Failures stay local: a turn whose judging raises is marked ``dropped`` with the error as its reason; a sample
the learner cannot take (token ids outside the vocabulary, mismatched log-probs) is dropped before the step;
a training step that raises drops its batch with the error (so the same turns cannot kill the loop again
after a restart); a failed publish keeps serving the previous weights. Every loop keeps going, and its
error count, last error, liveness and queue depth show in ``/health`` (:meth:`AsyncLoops.health_snapshot`).
A loop that dies anyway (e.g. the store went away) is reported by :meth:`AsyncLoops.raise_if_dead`, which
``claw train --async`` and :meth:`wait_steps` call so a run fails loudly instead of waiting forever.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from claw_envs.prm.judge import Turn as JudgeTurn
from claw_trainer.credit import score_episodes
from claw_trainer.learner import Learner
from claw_trainer.serving.health import LoopHealth
from claw_trainer.serving.policy import ServedPolicy
from claw_trainer.serving.store import TurnStore


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
        self.stop_event = threading.Event()
        self.stats: Counter = Counter()
        self.history: list[dict[str, float]] = []
        self._threads: list[threading.Thread] = []
        self.health = LoopHealth()
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
        ns = turn.next_state
        judgement: dict[str, Any] = {"process": None, "hint": None}
        if (ns is None or not ns.text) and not turn.reward_channels.get("outcome"):
            self.store.mark([turn_id], "dropped", reason="no next state")  # e.g. a session's closing turn
            self.stats["dropped_no_next_state"] += 1
            return
        if ns is not None and ns.text:
            jt = JudgeTurn.from_next_state(turn.action, ns, history=tuple(turn.messages or ()), step=turn.step)
            if self.judge is not None:
                judgement["process"] = self.judge.score(jt).score
            if self.hint_judge is not None:
                judgement["hint"] = self.hint_judge.score(jt).hint
        self.store.set_judged(turn_id, judgement)
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

    # -- training ----------------------------------------------------------------------------------------
    def _samples(self, rows: list) -> tuple[list, list[int], list[int]]:
        """(TrainSamples, their ids, ids with no signal) from judged rows."""
        episodes, ids = [], []
        for i, turn, j in rows:
            turn.reward_channels = {**turn.reward_channels, "process": (j or {}).get("process")}
            turn.hint = (j or {}).get("hint")
            episodes.append([turn])
            ids.append(i)
        samples, _ = score_episodes(episodes, self.learner.method.loss, group_norm=self.learner.method.group_norm)
        kept = {id(s.turn) for s in samples}
        by_turn = {id(ep[0]): i for ep, i in zip(episodes, ids, strict=True)}
        return samples, [by_turn[id(s.turn)] for s in samples], [by_turn[id(ep[0])] for ep in episodes
                                                                  if id(ep[0]) not in kept]

    def train_once(self) -> bool:
        """Drop judged turns with no signal or too stale; train one batch if there is one. True if it trained."""
        judged = self.store.ids("judged", 4 * self.batch_size)
        samples, sample_ids, no_signal = self._samples(self.store.get(judged))
        self.store.mark(no_signal, "dropped", reason="no signal")
        self.stats["dropped_no_signal"] += len(no_signal)
        ids_of = {id(s.turn): i for s, i in zip(samples, sample_ids, strict=True)}
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
        except Exception as e:  # noqa: BLE001 - the batch is dropped with the reason, training goes on
            self.health.error("train", f"step on turns {batch_ids}", e)
            self.store.mark(batch_ids, "dropped", reason=f"learner error: {type(e).__name__}: {e}"[:500])
            self.stats["dropped_learner_error"] += len(batch_ids)
            return False
        if self.checkpoint:
            self.learner.save(self.checkpoint, batch_ids)
        self.store.set_meta(f"batch-{self.learner.step}", batch_ids)
        self.store.mark(batch_ids, "trained", self.learner.step)
        metrics["reward"] = sum(float(s.turn.reward_channels.get("outcome", 0.0)) for s in batch) / len(batch)
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
            if self.max_steps is not None and self.learner.step >= self.max_steps:
                time.sleep(0.05)
                continue
            try:
                self.train_q.get(timeout=0.1)
            except queue.Empty:
                pass
            try:
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
        """The publish step: make ``state`` the served weights as ``version`` (wrap this to gate publishes)."""
        self.policy.publish(state, version)
        self.stats["published"] += 1

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
