"""Optuna's operation journal in a PostgreSQL table, for runners sharing a study.

Optuna's RDB storage reloads a study's trials on every ask and opens many
sessions per tell. Its `JournalStorage` instead keeps the study in memory and
only reads the operations it has not seen yet, through a backend like this one.

Replaying the journal relies on its entries being numbered 0, 1, 2, ... with no
gap, in one order every reader agrees on. So appends are serialised by a table
lock and numbered from the current end; a commit is visible before its lock is
released, so any one read sees a gap-free prefix of the journal.
"""

from __future__ import annotations

import json
from typing import Any

from optuna.storages.journal import BaseJournalBackend
from sqlalchemy import BigInteger, Column, MetaData, Table, Text, create_engine, select, text

from .ledger import sqlalchemy_url

metadata = MetaData()
journal = Table(
    "modelops_optuna_journal",
    metadata,
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("log", Text, nullable=False),  # JSON as Optuna writes it (NaN included, which jsonb refuses)
)

# An append: take the lock, then number the whole batch from the current end and insert it in one statement.
_LOCK = text(f"LOCK TABLE {journal.name} IN EXCLUSIVE MODE")
_APPEND = text(
    f"INSERT INTO {journal.name} (number, log) "
    f"SELECT (SELECT coalesce(max(number), -1) FROM {journal.name}) + batch.ordinality, batch.log "
    "FROM unnest(CAST(:logs AS text[])) WITH ORDINALITY AS batch(log, ordinality)"
)


class PostgresJournalBackend(BaseJournalBackend):
    """Safe for any number of processes appending and reading at once; creates its table if missing."""

    def __init__(self, url: str):
        # READ COMMITTED whatever the server's default: an append must number from the max committed before its lock.
        self.engine = create_engine(sqlalchemy_url(url), pool_pre_ping=True, isolation_level="READ COMMITTED")
        self._reads = self.engine.execution_options(isolation_level="AUTOCOMMIT")  # one query, no BEGIN/ROLLBACK trips
        metadata.create_all(self.engine)

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        with self._reads.connect() as conn:
            rows = conn.execute(
                select(journal.c.number, journal.c.log)
                .where(journal.c.number >= log_number_from)
                .order_by(journal.c.number)
            ).all()
        for expected, row in enumerate(rows, start=log_number_from):
            if row.number != expected:
                raise RuntimeError(f"{journal.name} has no entry {expected}; the journal was altered")
        return [json.loads(row.log) for row in rows]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(_LOCK)
            conn.execute(_APPEND, {"logs": [json.dumps(log, separators=(",", ":")) for log in logs]})
