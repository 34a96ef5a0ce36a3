"""Storing a batch of finished trials in the ledger, and moving them from leased to done in their run's counts.

A trial is stored only while this runner still holds its lease (else it was
reclaimed, and its result is not ours to give). A retry whose first try
committed finds its rows stored with the same result: they count as stored and
are not counted twice. On PostgreSQL the whole batch is one statement (one
round trip, atomic); SQLite is in this process, so plain statements in one
transaction cost no round trips.

What a call stored comes back with the run's counts as they stand after it
(PostgreSQL: the same statement's RETURNING) or with the records it newly
counted (SQLite: the ledger is this runner's alone, and keeps its counts in
process), so nobody reads the counts again right after storing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, bindparam, case, or_, select, text
from sqlalchemy.engine import Connection, Engine

from .ledger_tables import record_document, runs, trials
from .trials import TrialRecord

# The batch's best beats the run's (the lower loss, then the earlier trial).
_BETTER = (
    "(best.param_id IS NOT NULL AND (r.best_loss IS NULL OR r.best_loss > best.loss"
    " OR (r.best_loss = best.loss AND r.best_number > best.number)))"
)
# All sub-statements see one snapshot: the final SELECT finds rows stored by an earlier try, not this one's.
_COMPLETE = text(f"""
WITH batch AS (
  SELECT * FROM json_to_recordset(CAST(:batch AS json))
    AS b(param_id text, status text, loss text, finished_at float8, record text)
), stored AS (
  UPDATE {trials.name} t SET status = b.status, loss = CAST(b.loss AS float8), finished_at = b.finished_at,
    record = b.record
  FROM batch b
  WHERE t.run_id = :run AND t.param_id = b.param_id AND t.runner_id = :runner AND t.status = 'leased'
  RETURNING t.param_id, t.status, t.loss, t.number
), best AS (
  SELECT param_id, loss, number FROM stored WHERE status = 'completed' ORDER BY loss, number LIMIT 1
), counted AS (
  UPDATE {runs.name} r SET
    leased = r.leased - (SELECT count(*) FROM stored),
    done = r.done + (SELECT count(*) FROM stored),
    failed = r.failed + (SELECT count(*) FROM stored WHERE status = 'failed'),
    best_param_id = CASE WHEN {_BETTER} THEN best.param_id ELSE r.best_param_id END,
    best_loss = CASE WHEN {_BETTER} THEN best.loss ELSE r.best_loss END,
    best_number = CASE WHEN {_BETTER} THEN best.number ELSE r.best_number END
  FROM (SELECT 1) one LEFT JOIN best ON true
  WHERE r.run_id = :run AND EXISTS (SELECT 1 FROM stored)
  RETURNING r.budget, r.leased, r.done, r.failed, r.best_param_id
)
SELECT param_id, CAST(NULL AS integer) AS budget, CAST(NULL AS integer) AS leased, CAST(NULL AS integer) AS done,
  CAST(NULL AS integer) AS failed, CAST(NULL AS text) AS best_param_id FROM stored
UNION ALL
SELECT t.param_id, NULL, NULL, NULL, NULL, NULL FROM {trials.name} t JOIN batch b ON t.param_id = b.param_id
WHERE t.run_id = :run AND t.runner_id = :runner AND t.status = b.status AND t.finished_at = b.finished_at
UNION ALL
SELECT NULL, budget, leased, done, failed, best_param_id FROM counted
""")


# SQLite's statements, built once (see `runner.ledger_tables`).
_MINE = and_(trials.c.run_id == bindparam("run"), trials.c.param_id == bindparam("param"),
             trials.c.runner_id == bindparam("runner"))  # fmt: skip
_STORE = (
    trials.update()
    .where(_MINE, trials.c.status == "leased")
    .values(status=bindparam("to_status"), loss=bindparam("to_loss"), finished_at=bindparam("to_finished_at"),
            record=bindparam("to_record"))
)  # fmt: skip
_STORED = select(trials.c.number).where(
    _MINE, trials.c.status == bindparam("to_status"), trials.c.finished_at == bindparam("to_finished_at")
)
_COUNT = (
    runs.update()
    .where(runs.c.run_id == bindparam("run"))
    .values(leased=runs.c.leased - bindparam("n"), done=runs.c.done + bindparam("n"),
            failed=runs.c.failed + bindparam("n_failed"))
)  # fmt: skip
_BEATS = or_(
    runs.c.best_loss.is_(None),
    runs.c.best_loss > bindparam("loss"),
    and_(runs.c.best_loss == bindparam("loss"), runs.c.best_number > bindparam("number")),
)
_COUNT_BEST = _COUNT.values(
    best_param_id=case((_BEATS, bindparam("param")), else_=runs.c.best_param_id),
    best_loss=case((_BEATS, bindparam("loss")), else_=runs.c.best_loss),
    best_number=case((_BEATS, bindparam("number")), else_=runs.c.best_number),
)


@dataclass(frozen=True)
class Counts:
    budget: int
    leased: int
    done: int
    failed: int
    best: TrialRecord | None


@dataclass(frozen=True)
class Stored:
    """Which records were stored (in their order), and what the call changed in the run's counts."""

    kept: list[bool]
    newly: list[TrialRecord]  # counted by this call (SQLite; a retry's first try may have counted others)
    run: Any = None  # PostgreSQL: the run's row (budget, leased, done, failed, best_param_id) after this call


def store_finished(engine: Engine, run_id: str, runner_id: str, records: list[TrialRecord]) -> Stored:
    """Store `records`; False for one whose lease is no longer this runner's. `engine` autocommits on PostgreSQL."""
    if not records:
        return Stored([], [])
    if engine.dialect.name == "postgresql":
        return _in_one_statement(engine, run_id, runner_id, records)
    stored, newly = [], []
    with engine.begin() as conn:
        for record in records:
            values = {"run": run_id, "param": record.param_id, "runner": runner_id, "to_status": record.status,
                      "to_finished_at": record.finished_at}  # fmt: skip
            if conn.execute(_STORE, values | {"to_loss": record.loss, "to_record": record_document(record)}).rowcount:
                newly.append(record)
                stored.append(True)
            else:
                stored.append(conn.execute(_STORED, values).first() is not None)
        _count_finished(conn, run_id, newly)  # what a committed first try stored is counted already
    return Stored(stored, newly)


def _in_one_statement(engine: Engine, run_id: str, runner_id: str, records: list[TrialRecord]) -> Stored:
    batch = [
        {
            "param_id": r.param_id,
            "status": r.status,
            "loss": None if r.loss is None else repr(float(r.loss)),  # as text: JSON has no NaN
            "finished_at": r.finished_at,
            "record": record_document(r),
        }
        for r in records
    ]
    with engine.begin() as conn:
        rows = conn.execute(_COMPLETE, {"batch": json.dumps(batch), "run": run_id, "runner": runner_id}).all()
    kept = {row.param_id for row in rows if row.param_id is not None}
    run = next((row for row in rows if row.param_id is None), None)
    return Stored([r.param_id in kept for r in records], [], run)


def counted(known: Counts, newly: list[TrialRecord]) -> Counts:
    """`known` after `newly` moved from leased to done, as `_count_finished` counts them in the run's row."""
    best, was = _best_of(newly), known.best
    better = best is not None and (
        was is None or was.loss is None or was.loss > best.loss or (was.loss == best.loss and was.number > best.number)
    )
    return Counts(
        known.budget,
        known.leased - len(newly),
        known.done + len(newly),
        known.failed + sum(r.status == "failed" for r in newly),
        replace(best) if better else was,  # a copy: the caller's record may change
    )


def _best_of(records: list[TrialRecord]) -> TrialRecord | None:
    """The best completed trial of `records`: the lowest loss, then the earliest."""
    completed = [r for r in records if r.status == "completed"]
    return min(completed, key=lambda r: (r.loss, r.number)) if completed else None


def _count_finished(conn: Connection, run_id: str, records: list[TrialRecord]) -> None:
    """Move `records` from leased to done in the run's counts, and keep its best."""
    if not records:
        return
    values = {"run": run_id, "n": len(records), "n_failed": sum(r.status == "failed" for r in records)}
    best = _best_of(records)
    if best is None:
        conn.execute(_COUNT, values)
    else:
        conn.execute(_COUNT_BEST, values | {"param": best.param_id, "loss": best.loss, "number": best.number})
