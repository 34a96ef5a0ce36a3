"""The trial ledger's tables, upgraded in place when an older version created them, its statements sent per
trial, and its rows as records.

The statements sent per trial are built once, with bound parameters: built
per call, SQLAlchemy spends about 0.3 ms building and keying each one, most of
what a ledger call costs on SQLite (in process, no round trip).

A ledger created before a column was added lacks it: opening the ledger adds
every missing column (`ALTER TABLE ... ADD COLUMN`, `IF NOT EXISTS` on
PostgreSQL, where runners opening at once also hold the schema lock) and, when
the run's counts are new, counts its trials once, so a run resumes where it was.
Trials of a ledger from before `reported` count as unreported: their events are
sent once more on resume (subscribers dedupe them by id).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, and_, bindparam, func, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateColumn

from .trials import TrialRecord

metadata = MetaData()
runs = Table(
    "modelops_runs",
    metadata,
    Column("run_id", String(63), primary_key=True),
    Column("budget", Integer, nullable=False),
    Column("spec_sha256", String(64)),  # of the document as compared on resume (`compared_document`)
    Column("document", Text),
    # Kept by every lease and completion, so counting costs one row however long the run.
    Column("leased", Integer, nullable=False, server_default="0"),
    Column("done", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("best_param_id", String(64)),
    Column("best_loss", Float),
    Column("best_number", Integer),
)
trials = Table(
    "modelops_trials",
    metadata,
    Column("run_id", String(63), primary_key=True),
    Column("param_id", String(64), primary_key=True),
    Column("number", Integer, nullable=False),
    Column("params", Text, nullable=False),
    Column("status", String(16), nullable=False),  # leased | completed | failed
    Column("runner_id", String(128), nullable=False),
    Column("leased_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("loss", Float),
    Column("record", Text),
    Column("reported", Integer, nullable=False, server_default="0"),  # 1: every event sink took its trial event
)
_COUNTS = {"leased", "done", "failed", "best_param_id", "best_loss", "best_number"}

_RUN = trials.c.run_id == bindparam("run")
# Rows of the run among some param ids; a run's budget and counts; a lease's count (SQLite's lease).
AMONG = select(trials).where(_RUN, trials.c.param_id.in_(bindparam("param_ids", expanding=True)))
FINISHED_AMONG = AMONG.where(trials.c.status != "leased")
RUN_COUNTS = select(runs.c.budget, runs.c.leased, runs.c.done).where(runs.c.run_id == bindparam("run"))
LEASE = trials.insert()
ADD_LEASED = runs.update().where(runs.c.run_id == bindparam("run")).values(leased=runs.c.leased + bindparam("n"))
# Finished rows from a lease number on, in lease order; the run's counts with its best trial's row.
FINISHED_FROM = (
    select(trials)
    .where(_RUN, trials.c.status != "leased", trials.c.number >= bindparam("from_number"))
    .order_by(trials.c.number)
)
_best = trials.alias("best")
COUNTS = (
    select(runs.c.budget, runs.c.leased, runs.c.done, runs.c.failed, _best)
    .select_from(runs)
    .outerjoin(_best, and_(_best.c.run_id == runs.c.run_id, _best.c.param_id == runs.c.best_param_id))
    .where(runs.c.run_id == bindparam("run"))
)


def create_or_upgrade(conn: Connection) -> None:
    """The ledger's tables as this version has them, whatever version created them."""
    metadata.create_all(conn)
    for table in (runs, trials):
        added = _add_missing_columns(conn, table)
        if table is runs and added & _COUNTS:
            _count_trials(conn)


def _add_missing_columns(conn: Connection, table: Table) -> set[str]:
    present = {column["name"] for column in inspect(conn).get_columns(table.name)}
    if_missing = " IF NOT EXISTS" if conn.dialect.name == "postgresql" else ""
    missing = [column for column in table.columns if column.name not in present]
    for column in missing:
        definition = CreateColumn(column).compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN{if_missing} {definition}")
    return {column.name for column in missing}


def _count_trials(conn: Connection) -> None:
    """Fill the counts and best of every run from its trials (a ledger from before they were kept)."""
    for run_id in conn.execute(select(runs.c.run_id)).scalars().all():
        of_run = trials.c.run_id == run_id
        by_status = dict(conn.execute(select(trials.c.status, func.count()).where(of_run).group_by(trials.c.status)).all())
        best = conn.execute(
            select(trials.c.param_id, trials.c.loss, trials.c.number)
            .where(of_run, trials.c.status == "completed", trials.c.loss.is_not(None))
            .order_by(trials.c.loss, trials.c.number)
            .limit(1)
        ).first()
        conn.execute(
            runs.update()
            .where(runs.c.run_id == run_id)
            .values(
                leased=by_status.get("leased", 0),
                done=sum(count for status, count in by_status.items() if status != "leased"),
                failed=by_status.get("failed", 0),
                best_param_id=best and best.param_id,
                best_loss=best and best.loss,
                best_number=best and best.number,
            )
        )


def record_document(record: TrialRecord) -> str:
    """What a finished trial's row keeps beyond its columns."""
    return json.dumps(
        {
            "seeds": [str(s) for s in record.seeds],
            "submitted_at": record.submitted_at,
            "target_losses": record.target_losses,
            "error": record.error,
            "sim_seconds": record.sim_seconds,
        }
    )


def record_of(row: Any) -> TrialRecord:
    document = json.loads(row.record) if row.record else {}
    record = TrialRecord(
        number=row.number,
        param_id=row.param_id,
        params=json.loads(row.params),
        seeds=tuple(int(s) for s in document.get("seeds", ())),
        submitted_at=document.get("submitted_at", row.leased_at),
    )
    if row.status != "leased":
        record.status = row.status
        record.loss = row.loss
        record.finished_at = row.finished_at
        record.target_losses = document.get("target_losses", {})
        record.error = document.get("error")
        record.sim_seconds = document.get("sim_seconds", 0.0)
    return record
