"""Optuna's operation journal in a SQL table (PostgreSQL or SQLite), with snapshots.

Optuna's RDB storage reloads a study's trials on every ask and opens many
sessions per tell. Its `JournalStorage` instead keeps the study in memory and
only reads the operations it has not seen yet, through a backend like this one.

Each run keeps its own journal (rows keyed by the run id), so a runner replays
only its run's operations, however many runs share the database. A snapshot of
the replayed study is saved now and then (Optuna's `BaseJournalSnapshot`), so a
runner that joins or resumes replays only what came after it.

Replaying a journal relies on its entries being numbered 0, 1, 2, ... with no
gap, in one order every reader agrees on. On PostgreSQL appends to one journal
are serialised by a transaction-level advisory lock and numbered from its
current end, in one round trip (a function, `modelops_journal_append`); a
commit is visible before its lock is released, so any one read sees a gap-free
prefix of the journal. SQLite serves one runner; its writes are serialised by
the database itself.

An ask writes a new trial, then its sampler's system attributes and each of its
parameters; a tell writes the trial's state and values: one operation each.
Only the new trial is written at once (its number in the journal is its trial
id, which every reader must agree on; a batch of asks writes its new trials
together, `RunJournalStorage.asking`). The others touch a trial whose id is
settled, so they are handed back to Optuna at once and written with this
backend's next append (the next batch's new trials) or before its next read,
the previous tells and parameters riding along. Optuna may have them before
entries others appended ahead of them; they touch only trials this runner
evaluates, so the order does not matter to it, and a read skips them where the
database has them. A batch's parameters are written by
`RunJournalStorage.flush`, which the algorithm calls before handing its
proposals to the ledger: a trial leased is a trial whose parameters the study
has, so a runner that dies while evaluating it leaves a running trial that the
runner reclaiming the lease tells its result (two writes per ask batch: its new
trials, then their parameters). A tell not written when a runner dies is not
lost: the ledger has the result, and the runner that resumes tells it to the
study again. The runner flushes at its end, and pickling a backend flushes it
first.

Optuna reads the journal back before and after each of its own operations:
about a dozen reads per trial. Here the database is read when an append shows
that others wrote since the last read (the new trial's number is not the next
one this backend expected: the entries between must be replayed before it), and
otherwise at most every `FRESH_SECONDS`; in between, reads hand back what this
backend itself wrote, or nothing new. What others wrote is seen a little later,
never out of order, and everything Optuna checks against this backend's own
writes (e.g. telling a finished trial) is checked against the whole journal
before them. Exactness does not rest on the study anyway: the trial ledger
decides who evaluates what.

A backend that is its journal's only writer (`exclusive`: SQLite, which serves
one runner, under the ledger's file lock) defers new trials too, since nobody
else can take their numbers: a batch of asks and the tells before it are one
write (the flush), and the database is read only when the journal is opened.
An append that finds the journal's end elsewhere is rolled back and fails,
rather than number trials wrong.

Reads and writes ride out a storage outage (`runner.storage_retry`). An append
retried after its connection broke may have committed already, so a retry
first looks for its entries at the journal's end (appends are contiguous)
and does not write them twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from optuna.storages.journal import BaseJournalBackend
from optuna.storages.journal._base import BaseJournalSnapshot  # the interface JournalStorage checks for
from sqlalchemy import BigInteger, Column, LargeBinary, MetaData, String, Table, Text, create_engine, event, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from .database import fast_sqlite, sqlalchemy_url
from .storage_retry import retried

metadata = MetaData()
journal = Table(
    "modelops_optuna_journals",
    metadata,
    Column("journal", String(63), primary_key=True),
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("log", Text, nullable=False),  # JSON as Optuna writes it (NaN included, which jsonb refuses)
)
snapshots = Table(
    "modelops_optuna_snapshots",
    metadata,
    Column("journal", String(63), primary_key=True),
    Column("entries", BigInteger, nullable=False),  # journal entries the snapshot has replayed
    Column("snapshot", LargeBinary, nullable=False),
)

# Without an ask of its own, this backend reads what others appended at most this often.
FRESH_SECONDS = 0.25
# What Optuna writes about a trial whose id is settled, by `JournalOperation` code: deferred (a param, an
# intermediate value, a user or system attribute; a state change only to a finished state, i.e. a tell).
_DEFERRED = frozenset({5, 7, 8, 9})
_SET_STATE, _FINISHED_STATES = 6, frozenset({1, 2, 3})  # `TrialState` COMPLETE, PRUNED, FAIL

# A snapshot is saved once the journal has grown by this many entries, or by as many as the last
# snapshot held (so the snapshots of a run cost O(entries) in all, not O(entries^2)).
SNAPSHOT_MIN_ENTRIES = 2000

# Lock this journal, then number the whole batch from its current end; returns the first number. The batch is
# one JSON array of the entries' texts: as a text[] parameter psycopg escapes every quote of every entry in Python
# (a regular expression substitution per quote), which cost more CPU than the rest of the append.
_APPEND_FUNCTION = f"""
CREATE OR REPLACE FUNCTION modelops_journal_append(name varchar, key bigint, logs json) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE first bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(key);
  SELECT coalesce(max(number), -1) + 1 INTO first FROM {journal.name} WHERE journal = name;
  INSERT INTO {journal.name} (journal, number, log)
    SELECT name, first + batch.ordinality - 1, batch.log
    FROM json_array_elements_text(logs) WITH ORDINALITY AS batch(log, ordinality);
  RETURN first;
END $$
"""
_APPEND = text("SELECT modelops_journal_append(CAST(:journal AS varchar), :key, CAST(:logs AS json))")
# SQLite reads the whole SELECT before inserting (it reads the table it inserts into): one end for the batch.
_SQLITE_APPEND = text(
    f"INSERT INTO {journal.name} (journal, number, log) SELECT :journal, e.first + logs.key, logs.value "
    f"FROM json_each(:logs) AS logs, (SELECT coalesce(max(number), -1) + 1 AS first FROM {journal.name} "
    "WHERE journal = :journal) AS e RETURNING number"
)
# Creating the schema takes this lock, so backends starting together do not race (CREATE OR REPLACE would).
_SCHEMA_KEY = 0x6D6F70734A524E4C


class SqlJournalBackend(BaseJournalBackend, BaseJournalSnapshot):
    """A run's journal; on PostgreSQL safe for any number of processes at once. Creates its tables if missing.

    Picklable: a copy connects anew (with the same URL) where it is unpickled.
    """

    def __init__(self, url: str, journal_id: str, exclusive: bool = False):
        """`exclusive`: this backend is the journal's only writer (SQLite, under the ledger's file lock)."""
        self.url = url
        self.journal_id = journal_id
        self.exclusive = exclusive
        digest = hashlib.blake2b(f"modelops:journal|{journal_id}".encode(), digest_size=8).digest()
        self._key = int.from_bytes(digest, "big", signed=True)
        self.engine = _engine(url)
        self._postgres = self.engine.dialect.name == "postgresql"
        # On PostgreSQL every statement here is a transaction of its own: one round trip, no BEGIN/COMMIT.
        self._statements = self.engine.execution_options(isolation_level="AUTOCOMMIT") if self._postgres else self.engine
        self._held: Connection | None = None  # PostgreSQL: the connection appends and reads use, kept between them
        self._lock = threading.Lock()  # one append or read at a time in this process (SQLite needs it)
        self._read_to = 0  # entries handed out by read_logs so far (Optuna reads each entry once, in order)
        self._db_to = 0  # Optuna has every entry of the database numbered below this
        self._pending: list[str] = []  # deferred entries, handed out already, not written yet
        self._ahead: set[int] = set()  # numbers of written entries handed out before some below them
        self._own: tuple[list[dict[str, Any]], bool] | None = None  # to hand out next: (entries, written)
        self._snapshot_at = 0  # entries the last snapshot saved or loaded here held
        self._due = True  # the next read asks the database (the first, or others appended)
        self._read_at = -float("inf")  # monotonic time of the last read from the database
        retried(self._create_schema, "creating the Optuna journal")

    def __getstate__(self) -> dict[str, Any]:
        self.flush()  # a copy reads the journal from the database: what was deferred must be there
        return {"url": self.url, "journal_id": self.journal_id}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["journal_id"])

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        with self._lock:
            own, self._own = self._own, None
            if log_number_from != self._read_to:  # read again from there (a snapshot's end, the start)
                self._flush([])
                own, self._ahead, self._db_to, self._due = None, set(), log_number_from, True
            if own is not None:
                logs, written = own  # deferred, or nobody appended between what was read and what this wrote
                self._db_to += len(logs) if written else 0
            elif self._due or (not self.exclusive and time.monotonic() - self._read_at >= FRESH_SECONDS):
                logs = self._catch_up()
                self._due, self._read_at = False, time.monotonic()
            else:
                logs = []  # read once this ask already: what others appended since is seen at the next
            self._read_to = log_number_from + len(logs)
            return logs

    def _catch_up(self) -> list[dict[str, Any]]:
        """What the database has beyond what Optuna has, this backend's deferred entries written first."""
        self._flush([])
        rows = retried(lambda: self._select(self._db_to), "reading the Optuna journal")
        self._db_to += len(rows)
        logs = [json.loads(log) for number, log in rows if number not in self._ahead]
        self._ahead = set()
        return logs

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        texts = [json.dumps(log, separators=(",", ":")) for log in logs]
        # Handed back as read from the database would (a JSON round trip): now if deferred, else if they follow
        # what was read.
        handed = [json.loads(t) for t in texts]
        with self._lock:
            if self._own is None and (self.exclusive or all(map(_deferred, logs))):
                self._pending += texts
                self._own = (handed, False)
                return
            self._write(texts, handed)

    def flush(self) -> None:
        """Write what was deferred (asks' parameters, tells), now."""
        with self._lock:
            if self._pending:
                self._write([], [])

    def _write(self, texts: list[str], handed: list[dict[str, Any]]) -> None:
        """Append `texts` after the deferred entries; what Optuna has not read back yet is handed back next."""
        unread, self._own = self._own, None
        if unread is not None and not unread[1]:  # deferred, and not read back before this: written as any
            texts, handed = self._pending[-len(unread[0]) :] + texts, unread[0] + handed
            del self._pending[-len(unread[0]) :]
        aligned = self._flush(texts)
        self._own = (handed, True) if aligned and handed else None
        self._due = self._due or not aligned  # a gap before these entries must be replayed before them

    def _flush(self, texts: list[str]) -> bool:
        """Write the deferred entries, then `texts`, in one append; whether they follow what Optuna has."""
        pending, written = self._pending, self._pending + texts
        if not written:
            return True
        tries = itertools.count()
        first = retried(lambda: self._append(written, retry=next(tries) > 0), "appending to the Optuna journal")
        self._pending = []
        aligned = first == self._db_to and not self._ahead
        if aligned:
            self._db_to += len(pending)  # handed out already, and where Optuna has them
        else:
            self._ahead |= set(range(first, first + len(pending)))
        return aligned

    def _append(self, texts: list[str], retry: bool) -> int:
        """The number of the first entry written (or found written by a try whose commit was not confirmed)."""
        with self._session() as conn:
            if retry and (found := self._written(conn, texts)) is not None:
                return found
            batch = {"journal": self.journal_id, "logs": json.dumps(texts)}
            if self._postgres:
                first = conn.execute(_APPEND, batch | {"key": self._key}).scalar_one()
            else:
                first = min(conn.execute(_SQLITE_APPEND, batch).scalars())
            if self.exclusive and first != self._db_to:  # rolled back: its new trials' ids would be wrong
                raise RuntimeError(f"journal {self.journal_id!r} was appended to by another writer; it serves one")
            return first

    def _written(self, conn: Any, texts: list[str]) -> int | None:
        """Where `texts` already stand, one after another, in what was appended since this backend last read."""
        rows = conn.execute(
            select(journal.c.number, journal.c.log)
            .where(journal.c.journal == self.journal_id, journal.c.number >= self._db_to)
            .order_by(journal.c.number)
        ).all()
        logs = [row.log for row in rows]
        for start in range(len(logs) - len(texts) + 1):
            if logs[start : start + len(texts)] == texts:
                return rows[start].number
        return None

    @contextlib.contextmanager
    def _session(self) -> Iterator[Connection]:
        """Under `_lock`: on PostgreSQL the held connection, each statement its own transaction (checking a pooled
        connection out and in, which sets and resets its isolation level, cost more client CPU than an append); a
        connection that failed is closed and the next call connects anew. On SQLite a transaction on the pool's."""
        if not self._postgres:
            with self.engine.begin() as conn:
                yield conn
            return
        if self._held is None:
            self._held = self._statements.connect()
        try:
            yield self._held
            self._held.commit()  # ends SQLAlchemy's own transaction; the server committed each statement already
        except BaseException:
            held, self._held = self._held, None
            held.close()
            raise

    def save_snapshot(self, snapshot: bytes) -> None:
        """Keep `snapshot` (the study replayed up to what this backend read), if the journal grew enough since."""
        with self._lock:
            entries = self._read_to
            if entries - self._snapshot_at < max(SNAPSHOT_MIN_ENTRIES, self._snapshot_at):
                return
            if self._pending:
                self._write([], [])
            if self._ahead:
                return  # Optuna holds entries out of the database's order: not a prefix of the journal
            insert = (postgresql_insert if self._postgres else sqlite_insert)(snapshots)
            upsert = insert.values(journal=self.journal_id, entries=entries, snapshot=snapshot).on_conflict_do_update(
                index_elements=[snapshots.c.journal],
                set_={"entries": insert.excluded.entries, "snapshot": insert.excluded.snapshot},
                where=snapshots.c.entries < insert.excluded.entries,  # another runner's newer one stays
            )
            retried(lambda: self._execute(upsert), "saving an Optuna journal snapshot")  # an upsert: idempotent
            self._snapshot_at = entries

    def _execute(self, statement: Any) -> None:
        with self._session() as conn:
            conn.execute(statement)

    def load_snapshot(self) -> bytes | None:
        row = retried(self._snapshot, "loading an Optuna journal snapshot")
        if row is None:
            return None
        self._snapshot_at = self._read_to = self._db_to = row.entries  # Optuna reads on from where it ends
        return row.snapshot

    def _snapshot(self) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(
                select(snapshots.c.entries, snapshots.c.snapshot).where(snapshots.c.journal == self.journal_id)
            ).first()

    def _select(self, log_number_from: int) -> list[tuple[int, str]]:
        with self._session() as conn:
            rows = conn.execute(
                select(journal.c.number, journal.c.log)
                .where(journal.c.journal == self.journal_id, journal.c.number >= log_number_from)
                .order_by(journal.c.number)
            ).all()
        for expected, row in enumerate(rows, start=log_number_from):
            if row.number != expected:
                raise RuntimeError(f"journal {self.journal_id!r} has no entry {expected}; it was altered")
        return [(row.number, row.log) for row in rows]

    def _create_schema(self) -> None:
        with self.engine.begin() as conn:
            if self._postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_KEY})
            metadata.create_all(conn)
            if self._postgres:
                conn.exec_driver_sql(_APPEND_FUNCTION)


def _deferred(log: dict[str, Any]) -> bool:
    """Whether Optuna's `log` can wait for the next append (see the module's docstring)."""
    op = log.get("op_code")
    return op in _DEFERRED or (op == _SET_STATE and log.get("state") in _FINISHED_STATES)


def _engine(url: str) -> Engine:
    parsed = sqlalchemy_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(parsed)  # no ping per checkout: a dead connection fails the call, which is retried

        @event.listens_for(engine, "connect")
        def _read_committed(dbapi_connection: Any, _record: Any) -> None:
            # Whatever the server's default: inside the append function each statement must see what was
            # committed before it (the lock's holder's entries), which only READ COMMITTED gives.
            dbapi_connection.autocommit = True
            dbapi_connection.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED")
            dbapi_connection.autocommit = False

        return engine
    return fast_sqlite(create_engine(parsed))
