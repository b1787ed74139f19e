"""The sync driver's sample queue: a FIFO of kept training samples kept in the run's turn store.

``claw train`` writes every kept sample of a collection round to ``turns.sqlite`` the moment the round is
scored — one transaction per round, already credited (status ``judged``; see :mod:`claw_trainer.store`).
:meth:`RolloutBuffer.take` hands out the oldest judged rows; when TRL's optimizer step has consumed them,
:meth:`RolloutBuffer.mark_trained` marks them ``trained`` with that step, in one transaction. Overflow beyond
a batch stays ``judged`` for the next batch.

A checkpoint of step ``S`` records ``S`` and the ids of its batch. Resuming from it (:meth:`RolloutBuffer.restore`)
re-queues every row marked trained after ``S`` (those weights were lost with the process) and marks the batch
of ``S`` trained if its marks were not written: the judged rows — including every sample collected after the
last checkpoint — are trained on next, oldest first, none twice and none lost.
"""

from __future__ import annotations

from pathlib import Path

from claw_trainer.credit import TrainSample
from claw_trainer.store import TurnStore


class RolloutBuffer:
    """Kept samples queued in a :class:`~claw_trainer.store.TurnStore`.

    Args:
        store: an open writer store, or the path of the run's ``turns.sqlite`` (opened here, taking the store's
            single-writer lock), or None for an in-memory store that does not survive the process.
    """

    def __init__(self, store: TurnStore | str | Path | None = None):
        self.store = store if isinstance(store, TurnStore) else TurnStore(store)
        self._taken: list[int] = []  # handed to the trainer, not yet marked trained
        self.last_batch: list[int] = []  # the ids the last training step marked trained

    def __len__(self) -> int:
        """Samples queued and not handed out yet."""
        return self.store.pending() - len(self._taken)

    @property
    def consumed(self) -> int:
        """Samples trained on (marked ``trained``) over the whole run, resumed parts included."""
        return self.store.counts().get("trained", 0)

    def add(self, samples: list[TrainSample], group: str = "", meta: dict | None = None) -> list[int]:
        """Queue one round's kept samples as one credit ``group``; ``meta`` is stored in the same transaction."""
        return self.store.record_samples(samples, group, meta)

    def take(self, n: int) -> list[TrainSample]:
        """The ``n`` oldest queued samples (fewer if fewer are queued); they stay ``judged`` until marked."""
        taken = set(self._taken)
        out = []
        for i, turn, _, credit in self.store.credited(n + len(taken)):
            if i in taken:
                continue
            if len(out) == n:
                break
            out.append(TrainSample(turn, float(credit["a_rl"]), bool(credit["has_score"]), bool(credit["has_hint"])))
            self._taken.append(i)
        return out

    def mark_trained(self, step: int) -> list[int]:
        """The samples handed out so far were trained on by optimizer step ``step``: mark them (one transaction)."""
        self.last_batch, self._taken = self._taken, []
        self.store.mark(self.last_batch, "trained", step)
        return self.last_batch

    def restore(self, step: int, batch: list[int] | None = None) -> int:
        """Resume from the checkpoint of ``step`` whose batch was ``batch``: re-queue rows trained after it,
        reconcile its own batch; returns how many samples are queued."""
        self._taken = []
        self.store.untrain_after(step)
        self.store.reconcile(step, batch or [])
        self.last_batch = list(batch or [])
        return len(self)

    def get_meta(self, key: str, default: object = None) -> object:
        return self.store.get_meta(key, default)

    def close(self) -> None:
        self.store.close()
