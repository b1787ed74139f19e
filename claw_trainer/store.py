"""The one durable turn store of both drivers: every training turn lives in ``turns.sqlite`` (SQLite, WAL).

One table, one row per turn, and a status that only moves forward in single transactions::

    awaiting_next_state → recorded → judging → judged → trained      (or dropped, with a reason)

* **Served and env turns** (``claw serve [--learn]``, ``claw train --async``): a served turn is written *before*
  its response leaves the proxy, as ``awaiting_next_state``; the next request of its session attaches the next
  state (:meth:`TurnStore.attach`) and moves it to ``recorded``. An env round is recorded as one credit group
  (:meth:`TurnStore.record_group`). The judge loop moves ``recorded → judging → judged``, the credit function
  stores each turn's advantage (``credit``), and the learner marks a trained batch ``trained`` with its step.
* **The sync driver** (``claw train``): credit is given in-process, so each kept sample is written already
  ``judged``, its credit and judgement set and its round as its group (:meth:`TurnStore.record_samples`); the
  trainer's queue (:class:`~claw_trainer.buffer.RolloutBuffer`) hands out the oldest such rows and marks them
  ``trained`` with the step that consumed them.

A ``kill -9`` at any point loses no turn and trains none twice: on restart ``awaiting_next_state`` turns still
wait for their session, ``judging`` turns are judged again, ``judged`` ones are trained on. A driver resuming
from a checkpoint of step ``S`` re-queues the rows it marked ``trained`` after ``S`` (their weights were lost:
:meth:`TurnStore.untrain_after`) and :meth:`TurnStore.reconcile` marks the batch of a step whose weights were
saved but whose marks were not. ``meta`` keeps counters that must survive with the turns (rounds, episodes,
each step's batch ids).

One process writes a store (an exclusive ``flock`` on ``turns.sqlite.lock``, freed by the OS when it dies);
a second writer is refused with the holder's pid. Readers (``claw view``, the held-out overlap check, tests)
open it with ``readonly=True`` — or call :func:`read_turns` — and never lock or change anything.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_envs.core.errors import ConfigError
from claw_trainer.rollout import Turn, json_default

if TYPE_CHECKING:
    from claw_trainer.credit import TrainSample

AWAITING = "awaiting_next_state"
REOPENABLE = ("no next state", "choice not continued")  # drop reasons a late reply undoes
SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session TEXT, turn_type TEXT, status TEXT NOT NULL, version INTEGER,
    turn TEXT NOT NULL, judgement TEXT, step INTEGER, reason TEXT, created REAL
);
CREATE INDEX IF NOT EXISTS turns_status ON turns(status, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
# Columns added for serving (tenancy, idempotent retries, session continuation); older stores are migrated.
# ``grp``/``grp_turns``: the credit group of a turn (an env round of ``grp_turns`` turns, recorded in one transaction,
# or a live prompt group); ``credit``: the advantage the credit function gave it (JSON), once its group was scored.
EXTRA_COLUMNS = {"tenant": "TEXT", "request_id": "TEXT", "choice": "INTEGER", "n_messages": "INTEGER",
                 "fingerprint": "TEXT", "history_fp": "TEXT", "response": "TEXT", "grp": "TEXT", "grp_turns": "INTEGER", "credit": "TEXT"}
INDEXES = """
CREATE INDEX IF NOT EXISTS turns_session ON turns(tenant, session, status);
CREATE INDEX IF NOT EXISTS turns_request ON turns(tenant, request_id);
CREATE INDEX IF NOT EXISTS turns_fingerprint ON turns(tenant, fingerprint);
CREATE INDEX IF NOT EXISTS turns_history_fp ON turns(tenant, history_fp);
CREATE INDEX IF NOT EXISTS turns_grp ON turns(grp);
"""


def _dump(turn: Turn) -> str:
    return json.dumps(turn.to_json(), default=json_default)


def read_turns(path: str | Path, statuses: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The rows of a turn store (``path``: a run folder or its ``turns.sqlite``), read without locking or
    changing anything; see :meth:`TurnStore.rows`. A folder without a store has no rows."""
    p = Path(path)
    if p.is_dir():
        p = p / "turns.sqlite"
        if not p.is_file():
            return []
    store = TurnStore(p, readonly=True)
    try:
        return store.rows(statuses)
    finally:
        store.close()


def _writer_lock(path: Path) -> Any:
    """Take the store's single-writer lock (released by the OS when the process dies, even on ``kill -9``)."""
    import fcntl
    import os

    fh = open(path.with_name(path.name + ".lock"), "a+")  # noqa: SIM115 - held for the store's lifetime
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise ConfigError(f"the turn store {path} is already open for writing (by pid {holder}): one writer per "
                          "store — stop that process, or use another train.output_dir") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


@dataclass(frozen=True)
class Served:
    """Serving metadata of a turn: who asked, which request, and how to find its continuation."""

    tenant: str = ""
    request_id: str | None = None
    choice: int = 0
    n_messages: int = 0  # messages in the request, plus the assistant reply
    fingerprint: str | None = None  # of the conversation as the client will send it back (first user msg + reply)
    history_fp: str | None = None  # of its whole history as the client will send it back (sessions.py)
    response: dict[str, Any] | None = None  # the response body, replayed to a retry of the same request


@dataclass
class Awaiting:
    """A stored turn still waiting for its session's next request."""

    id: int
    turn: Turn
    n_messages: int
    request_id: str | None
    fingerprint: str | None


class TurnStore:
    """The one writer of a ``turns.sqlite`` (an exclusive lock on ``turns.sqlite.lock``), or a reader.

    A second writer — another ``claw train`` (sync or ``--async``) or ``claw serve`` on the same folder — is
    refused with the pid that holds the lock, instead of both training the same turns. Only the writer returns
    turns a killed writer left in ``judging`` to ``recorded``; a reader (``readonly=True``) changes nothing.
    ``path=None`` keeps the store in memory (a trainer built in Python without a run folder): nothing survives.
    """

    def __init__(self, path: str | Path | None, readonly: bool = False):
        self.path = Path(path) if path is not None else None
        self.readonly = readonly
        self._lock_fh = None
        self._lock = threading.Lock()
        if readonly:
            if self.path is None or not self.path.is_file():
                raise ConfigError(f"no turn store at {self.path}")
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False,
                                       isolation_level=None, timeout=30)
            return
        if self.path is None:  # in memory: a trainer built in Python without a run folder, tests
            self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fh = _writer_lock(self.path)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        have = {r[1] for r in self._db.execute("PRAGMA table_info(turns)")}
        for col, kind in EXTRA_COLUMNS.items():
            if col not in have:
                self._db.execute(f"ALTER TABLE turns ADD COLUMN {col} {kind}")
        self._db.executescript(INDEXES)
        # we hold the writer lock, so no live process is judging: these were being judged when a writer died
        self._db.execute("UPDATE turns SET status = 'recorded' WHERE status = 'judging'")

    def _tx(self, sql: str, args: tuple | list = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Several statements as one transaction: all of them survive a kill, or none."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def record(self, turn: Turn, session: str = "", turn_type: str = "main", status: str = "recorded",
               reason: str | None = None, served: Served | None = None) -> int:
        """Store a turn (``status`` says whether it still awaits its next state); returns its id."""
        s = served or Served()
        cur = self._tx("INSERT INTO turns (session, turn_type, status, version, turn, reason, created, tenant, "
                       "request_id, choice, n_messages, fingerprint, history_fp, response) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (session, turn_type, status, turn.policy_version,
                        json.dumps(turn.to_json(), default=json_default), reason, time.time(), s.tenant,
                        s.request_id, s.choice, s.n_messages, s.fingerprint, s.history_fp,
                        json.dumps(s.response) if s.response is not None else None))
        return int(cur.lastrowid)

    def attach(self, turn_id: int, turn: Turn, status: str = "recorded", reason: str | None = None) -> bool:
        """Replace an awaiting turn with its completed form (next state attached); False if it no longer awaits."""
        return self._tx("UPDATE turns SET turn = ?, status = ?, reason = ? WHERE id = ? AND status = ?",
                        (json.dumps(turn.to_json(), default=json_default), status, reason, turn_id,
                         AWAITING)).rowcount == 1

    def awaiting(self, tenant: str, session: str) -> list[Awaiting]:
        """The awaiting main turns of a session, newest first."""
        rows = self._tx("SELECT id, turn, n_messages, request_id, fingerprint FROM turns WHERE tenant = ? AND "
                        "session = ? AND status = ? AND turn_type = 'main' ORDER BY id DESC",
                        (tenant, session, AWAITING)).fetchall()
        return [Awaiting(i, Turn.from_json(json.loads(t)), n or 0, r, f) for i, t, n, r, f in rows]

    def closed_last(self, tenant: str, session: str) -> list[Awaiting]:
        """The session's last main request's turns if they were closed without a next state (by ``close`` or the
        retention sweep) and not trained: a late reply still becomes their next state (:meth:`reopen`)."""
        rows = self._tx("SELECT id, turn, n_messages, request_id, fingerprint, status, reason FROM turns WHERE "
                        "tenant = ? AND session = ? AND turn_type = 'main' AND request_id = (SELECT request_id FROM "
                        "turns WHERE tenant = ? AND session = ? AND turn_type = 'main' ORDER BY id DESC LIMIT 1) "
                        "ORDER BY id DESC", (tenant, session, tenant, session)).fetchall()
        out = []
        for i, t, n, r, f, status, reason in rows:
            turn = Turn.from_json(json.loads(t))
            if turn.next_state is None and (status == "recorded" or (status == "dropped" and reason in REOPENABLE)):
                out.append(Awaiting(i, turn, n or 0, r, f))
        return out

    def reopen(self, turn_id: int, turn: Turn, status: str = "recorded", reason: str | None = None) -> bool:
        """Give a closed turn (see :meth:`closed_last`) its late next state; False if it moved on meanwhile."""
        q = ",".join("?" * len(REOPENABLE))
        return self._tx(f"UPDATE turns SET turn = ?, status = ?, reason = ?, judgement = NULL, credit = NULL WHERE "
                        f"id = ? AND (status = 'recorded' OR (status = 'dropped' AND reason IN ({q})))",
                        (json.dumps(turn.to_json(), default=json_default), status, reason, turn_id,
                         *REOPENABLE)).rowcount == 1

    def awaiting_older_than(self, seconds: float) -> list[tuple[str, str]]:
        """(tenant, session) pairs whose awaiting turn was sampled more than ``seconds`` ago."""
        return list(self._tx("SELECT DISTINCT tenant, session FROM turns WHERE status = ? AND created < ?",
                             (AWAITING, time.time() - seconds)).fetchall())

    def session_of_fingerprint(self, tenant: str, fingerprint: str, history_fp: str | None = None) -> str | None:
        """The session a conversation continues: matched by its whole history's fingerprint, else (a client that
        rewrote its history) by its first-message-and-reply fingerprint. Among several matches, the oldest one
        still awaiting it, else the newest one that had it (identical anonymous conversations are continued
        first in, first out)."""
        for col, value in (("history_fp", history_fp), ("fingerprint", fingerprint)):
            if not value:
                continue
            row = self._tx(f"SELECT session FROM turns WHERE tenant = ? AND {col} = ? AND status = ? "
                           "ORDER BY id LIMIT 1", (tenant, value, AWAITING)).fetchone() or \
                self._tx(f"SELECT session FROM turns WHERE tenant = ? AND {col} = ? ORDER BY id DESC LIMIT 1",
                         (tenant, value)).fetchone()
            if row:
                return row[0]
        return None

    def steps_of(self, tenant: str, session: str) -> int:
        """How many distinct main requests the session has had (its next turn's step index)."""
        row = self._tx("SELECT COUNT(DISTINCT COALESCE(request_id, id)) FROM turns WHERE tenant = ? AND session = ? "
                       "AND turn_type = 'main'", (tenant, session)).fetchone()
        return int(row[0])

    def response_of(self, tenant: str, request_id: str) -> dict[str, Any] | None:
        """The stored response of an earlier request with this id (for an idempotent retry)."""
        row = self._tx("SELECT response FROM turns WHERE tenant = ? AND request_id = ? AND response IS NOT NULL "
                       "ORDER BY id LIMIT 1", (tenant, request_id)).fetchone()
        return json.loads(row[0]) if row else None

    def ids(self, status: str, limit: int = 1 << 30) -> list[int]:
        return [r[0] for r in self._tx("SELECT id FROM turns WHERE status = ? ORDER BY id LIMIT ?", (status, limit))]

    def get(self, ids: list[int]) -> list[tuple[int, Turn, dict[str, Any] | None]]:
        if not ids:
            return []
        q = ",".join("?" * len(ids))
        rows = self._tx(f"SELECT id, turn, judgement FROM turns WHERE id IN ({q}) ORDER BY id", ids).fetchall()
        return [(i, Turn.from_json(json.loads(t)), json.loads(j) if j else None) for i, t, j in rows]

    def row(self, turn_id: int) -> dict[str, Any] | None:
        """Every column of one turn (the turn and judgement decoded): for tools and tests."""
        cur = self._tx("SELECT * FROM turns WHERE id = ?", (turn_id,))
        r = cur.fetchone()
        if r is None:
            return None
        d = dict(zip([c[0] for c in cur.description], r, strict=True))
        for k in ("turn", "judgement", "response"):
            d[k] = json.loads(d[k]) if d[k] else None
        return d

    def claim(self, turn_id: int) -> bool:
        """Take a recorded turn for judging (False if another pass already took it)."""
        return self._tx("UPDATE turns SET status = 'judging' WHERE id = ? AND status = 'recorded'",
                        (turn_id,)).rowcount == 1

    def set_judged(self, turn_id: int, judgement: dict[str, Any], group: str | None = None) -> None:
        """Store a judgement (and, for a live turn credited in groups, its group)."""
        self._tx("UPDATE turns SET status = 'judged', judgement = ?, grp = COALESCE(?, grp) WHERE id = ? AND "
                 "status = 'judging'", (json.dumps(judgement, default=json_default), group, turn_id))

    def mark(self, ids: list[int], status: str, step: int | None = None, reason: str | None = None) -> None:
        if ids:
            q = ",".join("?" * len(ids))
            self._tx(f"UPDATE turns SET status = ?, step = ?, reason = ? WHERE id IN ({q})", [status, step, reason, *ids])

    def counts(self) -> dict[str, int]:
        return dict(self._tx("SELECT status, COUNT(*) FROM turns GROUP BY status").fetchall())

    def trained_steps(self) -> dict[int, int]:
        """How many times each turn id was trained on (0 or 1 by construction; tests check it)."""
        return dict(self._tx("SELECT id, CASE WHEN status = 'trained' THEN 1 ELSE 0 END FROM turns").fetchall())

    def set_meta(self, key: str, value: Any) -> None:
        self._tx("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._tx("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def reconcile(self, step: int, batch_ids: list[int]) -> int:
        """After a restart: the checkpoint of ``step`` was saved, so its batch counts as trained."""
        judged = set(self.ids("judged"))
        pending = [i for i in batch_ids if i in judged]
        self.mark(pending, "trained", step)
        return len(pending)

    def untrain_after(self, step: int) -> int:
        """Resuming from the checkpoint of ``step``: rows marked trained by a later step go back to ``judged``
        (those weights were never saved, so the samples must be trained again). Returns how many."""
        return self._tx("UPDATE turns SET status = 'judged', step = NULL WHERE status = 'trained' AND step > ?",
                        (step,)).rowcount

    def pending(self) -> int:
        """How many judged turns have their credit set (ready for a learner)."""
        return int(self._tx("SELECT COUNT(*) FROM turns WHERE status = 'judged' AND credit IS NOT NULL").fetchone()[0])

    def rows(self, statuses: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Every column of every turn (of ``statuses`` if given), oldest first, with ``turn``, ``judgement``,
        ``credit`` and ``response`` decoded: the one way tools, ``claw view`` and tests read a store."""
        where = f" WHERE status IN ({','.join('?' * len(statuses))})" if statuses else ""
        try:
            cur = self._tx(f"SELECT * FROM turns{where} ORDER BY id", statuses)
            names = [c[0] for c in cur.description]
            raw = cur.fetchall()
        except sqlite3.DatabaseError as e:
            raise ConfigError(f"{self.path}: not a claw turn store ({e})") from e
        out = []
        for r in raw:
            d = dict(zip(names, r, strict=True))
            for k in ("turn", "judgement", "credit", "response"):
                d[k] = json.loads(d[k]) if d.get(k) else None
            out.append(d)
        return out

    # -- credit groups ----------------------------------------------------------------------------------------
    def _insert_many(self, rows: list[tuple], meta: dict[str, Any] | None) -> list[int]:
        """Insert (session, status, version, turn, judgement, grp, grp_turns, credit) rows and ``meta`` in one
        transaction: after a kill either all of them are in the store or none."""
        ids = []
        with self._transaction() as db:
            for row in rows:
                cur = db.execute("INSERT INTO turns (session, turn_type, status, version, turn, judgement, created, "
                                 "grp, grp_turns, credit) VALUES (?,'main',?,?,?,?,?,?,?,?)",
                                 (*row[:5], time.time(), *row[5:]))
                ids.append(int(cur.lastrowid))
            for key, value in (meta or {}).items():
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))
        return ids

    def record_group(self, turns: list[Turn], group: str, sessions: list[str], meta: dict[str, Any] | None = None
                     ) -> list[int]:
        """Store a whole credit group (an env round) and ``meta`` in one transaction: after a kill either all of
        the group is in the store or none of it, so its credit never waits for turns that will not come."""
        return self._insert_many([(session, "recorded", turn.policy_version, _dump(turn), None, group, len(turns), None)
                                  for turn, session in zip(turns, sessions, strict=True)], meta)

    def record_samples(self, samples: list[TrainSample], group: str, meta: dict[str, Any] | None = None) -> list[int]:
        """Store the sync driver's kept samples of one round, already credited (status ``judged``, ``credit``
        holds ``a_rl``/``has_score``/``has_hint``, ``judgement`` the turn's own vote and hint), and ``meta``, in
        one transaction. Returns their ids, in order."""
        rows = []
        for s in samples:
            t = s.turn
            judgement = {"process": t.reward_channels.get("process"), "hint": t.hint}
            credit = {"a_rl": s.a_rl, "has_score": s.has_score, "has_hint": s.has_hint}
            rows.append((f"episode-{t.episode}", "judged", t.policy_version, _dump(t),
                         json.dumps(judgement, default=json_default), group, None, json.dumps(credit)))
        return self._insert_many(rows, meta)

    def group_of(self, turn_id: int) -> tuple[str | None, int | None]:
        row = self._tx("SELECT grp, grp_turns FROM turns WHERE id = ?", (turn_id,)).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def members(self, group: str) -> list[tuple[int, str, Turn, dict[str, Any] | None, str | None]]:
        """(id, status, turn, judgement, reason) of every turn of a credit group."""
        rows = self._tx("SELECT id, status, turn, judgement, reason FROM turns WHERE grp = ? ORDER BY id",
                        (group,)).fetchall()
        return [(i, st, Turn.from_json(json.loads(t)), json.loads(j) if j else None, r) for i, st, t, j, r in rows]

    def unscored(self, limit: int = 1 << 30) -> list[int]:
        """Judged turns outside any credit group whose credit is not set yet (live turns, one by one)."""
        return [r[0] for r in self._tx("SELECT id FROM turns WHERE status = 'judged' AND credit IS NULL AND grp IS NULL "
                                       "ORDER BY id LIMIT ?", (limit,))]

    def unscored_groups(self) -> list[tuple[str, int | None, int]]:
        """(group, its size if known, judged turns still without credit) of every group with such turns."""
        return list(self._tx("SELECT grp, MAX(grp_turns), COUNT(*) FROM turns WHERE status = 'judged' AND "
                             "credit IS NULL AND grp IS NOT NULL GROUP BY grp ORDER BY MIN(id)").fetchall())

    def unscored_in(self, group: str) -> list[int]:
        return [r[0] for r in self._tx("SELECT id FROM turns WHERE grp = ? AND status = 'judged' AND credit IS NULL "
                                       "ORDER BY id", (group,))]

    def set_group(self, turn_id: int, group: str) -> None:
        self._tx("UPDATE turns SET grp = ? WHERE id = ?", (group, turn_id))

    def set_credit(self, credits: dict[int, dict[str, Any]]) -> None:
        """Store the credit of a scored group's turns in one transaction (a kill never leaves half a group)."""
        with self._transaction() as db:
            for i, c in credits.items():
                db.execute("UPDATE turns SET credit = ? WHERE id = ? AND status = 'judged'", (json.dumps(c), i))

    def credited(self, limit: int = 1 << 30) -> list[tuple[int, Turn, dict[str, Any] | None, dict[str, Any]]]:
        """(id, turn, judgement, credit) of judged turns whose credit is set: ready for the learner, oldest first."""
        rows = self._tx("SELECT id, turn, judgement, credit FROM turns WHERE status = 'judged' AND credit IS NOT NULL "
                        "ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [(i, Turn.from_json(json.loads(t)), json.loads(j) if j else None, json.loads(c)) for i, t, j, c in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._lock_fh is not None:
            self._lock_fh.close()  # releases the writer lock
            self._lock_fh = None
