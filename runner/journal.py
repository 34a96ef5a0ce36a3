"""Optuna's operation journal in a PostgreSQL table, for runners sharing a study.

Optuna's RDB storage reloads a study's trials on every ask and opens many
sessions per tell. Its `JournalStorage` instead keeps the study in memory and
only reads the operations it has not seen yet, through a backend like this one.

Each run keeps its own journal (rows keyed by the run id), so a runner replays
only its run's operations, however many runs share the database.

Replaying a journal relies on its entries being numbered 0, 1, 2, ... with no
gap, in one order every reader agrees on. So appends to one journal are
serialised by a transaction-level advisory lock and numbered from its current
end; a commit is visible before its lock is released, so any one read sees a
gap-free prefix of the journal.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from optuna.storages.journal import BaseJournalBackend
from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, create_engine, select, text

from .ledger import sqlalchemy_url

metadata = MetaData()
journal = Table(
    "modelops_optuna_journals",
    metadata,
    Column("journal", String(63), primary_key=True),
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("log", Text, nullable=False),  # JSON as Optuna writes it (NaN included, which jsonb refuses)
)

# An append: lock this journal, then number the whole batch from its current end and insert it in one statement.
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_APPEND = text(
    f"INSERT INTO {journal.name} (journal, number, log) "
    f"SELECT CAST(:journal AS varchar), (SELECT coalesce(max(number), -1) FROM {journal.name} "
    "WHERE journal = CAST(:journal AS varchar)) "
    "+ batch.ordinality, batch.log "
    "FROM unnest(CAST(:logs AS text[])) WITH ORDINALITY AS batch(log, ordinality)"
)


class PostgresJournalBackend(BaseJournalBackend):
    """Safe for any number of processes appending and reading at once; creates its table if missing."""

    def __init__(self, url: str, journal_id: str):
        self.journal_id = journal_id
        digest = hashlib.blake2b(f"modelops:journal|{journal_id}".encode(), digest_size=8).digest()
        self._key = int.from_bytes(digest, "big", signed=True)
        # READ COMMITTED whatever the server's default: an append must number from the max committed before its lock.
        self.engine = create_engine(sqlalchemy_url(url), pool_pre_ping=True, isolation_level="READ COMMITTED")
        self._reads = self.engine.execution_options(isolation_level="AUTOCOMMIT")  # one query, no BEGIN/ROLLBACK trips
        metadata.create_all(self.engine)

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        with self._reads.connect() as conn:
            rows = conn.execute(
                select(journal.c.number, journal.c.log)
                .where(journal.c.journal == self.journal_id, journal.c.number >= log_number_from)
                .order_by(journal.c.number)
            ).all()
        for expected, row in enumerate(rows, start=log_number_from):
            if row.number != expected:
                raise RuntimeError(f"journal {self.journal_id!r} has no entry {expected}; it was altered")
        return [json.loads(row.log) for row in rows]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(_LOCK, {"key": self._key})
            logs_text = [json.dumps(log, separators=(",", ":")) for log in logs]
            conn.execute(_APPEND, {"journal": self.journal_id, "logs": logs_text})
