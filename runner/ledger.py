"""The trial ledger: which parameter sets of a run are leased or finished.

Optuna's heartbeats do not cover ask/tell, and several runners may share one
study, so the runner keeps its own transactional record next to the study:

- a *lease* reserves one unit of the budget for one parameter set, atomically,
  so runners sharing a run never evaluate a set twice or exceed the budget;
- a finished trial's full record lives here, so `trials.parquet` lists every
  trial of the run exactly once, whichever runner (or restart) evaluated it;
- a runner proves it is alive by holding a lock for its lifetime (a PostgreSQL
  session advisory lock, an OS file lock for SQLite). When a runner dies its
  lock goes with it, and the leases it held are reclaimed and evaluated again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, and_, case, create_engine, or_, select
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from .run_document import SpecMismatch, compared_document, differences, document_digest, document_json
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


class LedgerError(RuntimeError):
    """The ledger cannot be used as asked (e.g. a second runner on SQLite)."""


@dataclass(frozen=True)
class Lease:
    """What `Ledger.lease` decided: "new" (evaluate it), "finished", "leased" (elsewhere) or "full"."""

    outcome: str
    number: int | None = None
    record: TrialRecord | None = None


@dataclass(frozen=True)
class _Leased:
    """A lease made earlier in the same `lease` call (a repeated proposal)."""

    number: int
    status: str = "leased"


@dataclass(frozen=True)
class Counts:
    budget: int
    leased: int
    done: int
    failed: int
    best: TrialRecord | None


class Ledger:
    def __init__(
        self,
        engine: Engine,
        run_id: str,
        runner_id: str,
        budget: int,
        document: dict[str, Any] | None = None,
        force: bool = False,
        liveness: _Liveness | None = None,
    ):
        """`document` (the run document as a dict) must match the one the run started with, unless `force`."""
        self.engine = engine
        self.run_id = run_id
        self.runner_id = runner_id
        self._lock: _Liveness = liveness or _liveness(engine, run_id, runner_id)
        self._inherited = True  # leases held under this runner id before a restart are stale
        metadata.create_all(engine)
        compared = None if document is None else compared_document(document)
        digest = None if compared is None else document_digest(compared)
        with engine.begin() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
            if row is None:
                conn.execute(
                    runs.insert().values(run_id=run_id, budget=budget, spec_sha256=digest, document=document_json(compared))
                )
                return
            if digest is not None and row.spec_sha256 not in (None, digest) and not force:
                self._lock.release()
                raise SpecMismatch(run_id, differences(json.loads(row.document), compared))
            values: dict[str, Any] = {"budget": budget} if row.budget != budget else {}
            if digest is not None and row.spec_sha256 != digest:
                values |= {"spec_sha256": digest, "document": document_json(compared)}
            if values:
                conn.execute(runs.update().where(runs.c.run_id == run_id).values(**values))

    @classmethod
    def open(
        cls, url: str, run_id: str, runner_id: str, budget: int, document: dict[str, Any] | None = None,
        force: bool = False,
    ) -> Ledger:  # fmt: skip
        return cls(ledger_engine(url), run_id, runner_id, budget, document, force)

    def mark_reported(self, param_ids: list[str]) -> None:
        """Every event sink has taken these trials' events."""
        if not param_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                trials.update()
                .where(trials.c.run_id == self.run_id, trials.c.param_id.in_(param_ids))
                .values(reported=1)
            )

    def unreported(self) -> list[TrialRecord]:
        """Finished trials whose events not every sink took (a crash came first), in lease order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(trials)
                .where(trials.c.run_id == self.run_id, trials.c.status != "leased", trials.c.reported == 0)
                .order_by(trials.c.number)
            ).all()
        return [_record(row) for row in rows]

    def close(self) -> None:
        self._lock.release()
        self.engine.dispose()

    def phase(self, name: str, budget: int) -> Ledger:
        """The ledger of a later phase of this run (e.g. confirmation), under the same runner lock.

        Its rows are a run of their own (`<run id>/<name>`), so they count
        against their own budget and never against the search's.
        """
        return Ledger(self.engine, f"{self.run_id}/{name}", self.runner_id, budget, liveness=self._lock)

    def lease(self, proposals: list[tuple[str, dict[str, Any]]]) -> list[Lease]:
        """Reserve each (param_id, params) for this runner if the budget has room and nobody has it.

        One transaction for the whole list; outcomes come back in its order.
        """
        if not proposals:
            return []
        with self.engine.begin() as conn:
            run = self._lock_run(conn)
            budget, number = run.budget, run.leased + run.done  # every lease ever made has a row
            existing = {
                row.param_id: row
                for row in conn.execute(
                    select(trials).where(
                        trials.c.run_id == self.run_id, trials.c.param_id.in_([pid for pid, _ in proposals])
                    )
                )
            }
            leases, rows = [], []
            for param_id, params in proposals:
                row = existing.get(param_id)
                if row is not None:
                    finished = row.status != "leased"
                    leases.append(Lease("finished", row.number, _record(row)) if finished else Lease("leased", row.number))
                elif number >= budget:
                    leases.append(Lease("full"))
                else:
                    leases.append(Lease("new", number))
                    existing[param_id] = _Leased(number)
                    rows.append(
                        dict(
                            run_id=self.run_id,
                            param_id=param_id,
                            number=number,
                            params=json.dumps(params),
                            status="leased",
                            runner_id=self.runner_id,
                            leased_at=time.time(),
                        )
                    )
                    number += 1
            if rows:
                conn.execute(trials.insert(), rows)
                self._update_run(conn, leased=runs.c.leased + len(rows))
            return leases

    def complete(self, records: list[TrialRecord]) -> list[bool]:
        """Store finished trials; False for one whose lease is no longer ours (it was reclaimed)."""
        stored = []
        with self.engine.begin() as conn:
            for record in records:
                document = {
                    "seeds": [str(s) for s in record.seeds],
                    "submitted_at": record.submitted_at,
                    "target_losses": record.target_losses,
                    "error": record.error,
                    "sim_seconds": record.sim_seconds,
                }
                result = conn.execute(
                    trials.update()
                    .where(
                        trials.c.run_id == self.run_id,
                        trials.c.param_id == record.param_id,
                        trials.c.runner_id == self.runner_id,
                        trials.c.status == "leased",
                    )
                    .values(
                        status=record.status,
                        loss=record.loss,
                        finished_at=record.finished_at,
                        record=json.dumps(document),
                    )
                )
                stored.append(result.rowcount == 1)
            self._count_finished(conn, [record for record, kept in zip(records, stored) if kept])
        return stored

    def _count_finished(self, conn: Connection, records: list[TrialRecord]) -> None:
        """Move `records` from leased to done in the run's counts, and keep its best."""
        if not records:
            return
        values: dict[str, Any] = {
            "leased": runs.c.leased - len(records),
            "done": runs.c.done + len(records),
            "failed": runs.c.failed + sum(r.status == "failed" for r in records),
        }
        completed = [r for r in records if r.status == "completed"]
        if completed:
            best = min(completed, key=lambda r: (r.loss, r.number))
            better = or_(
                runs.c.best_loss.is_(None),
                runs.c.best_loss > best.loss,
                and_(runs.c.best_loss == best.loss, runs.c.best_number > best.number),
            )
            for column, value in (("best_param_id", best.param_id), ("best_loss", best.loss), ("best_number", best.number)):
                values[column] = case((better, value), else_=runs.c[column])
        self._update_run(conn, **values)

    def reclaim(self) -> list[TrialRecord]:
        """Take over the leases of runners that are gone; they must be evaluated again."""
        reclaimed: list[TrialRecord] = []
        if self._inherited:
            self._inherited = False
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(trials).where(
                        trials.c.run_id == self.run_id, trials.c.runner_id == self.runner_id, trials.c.status == "leased"
                    )
                ).all()
            reclaimed += [_record(row) for row in rows]
        with self.engine.begin() as conn:
            owners = conn.execute(
                select(trials.c.runner_id)
                .where(trials.c.run_id == self.run_id, trials.c.status == "leased", trials.c.runner_id != self.runner_id)
                .distinct()
            ).scalars()
            dead = [owner for owner in owners if self._lock.is_gone(owner)]
        for owner in dead:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(trials).where(
                        trials.c.run_id == self.run_id, trials.c.runner_id == owner, trials.c.status == "leased"
                    )
                ).all()
                conn.execute(
                    trials.update()
                    .where(trials.c.run_id == self.run_id, trials.c.runner_id == owner, trials.c.status == "leased")
                    .values(runner_id=self.runner_id, leased_at=time.time())
                )
            self._lock.forget(owner)
            reclaimed += [_record(row) for row in rows]
        return reclaimed

    def counts(self) -> Counts:
        """One row's read: the run's counts and its best trial, kept by `lease` and `complete`."""
        best = trials.alias("best")
        query = (
            select(runs.c.budget, runs.c.leased, runs.c.done, runs.c.failed, best)
            .select_from(runs)
            .outerjoin(best, and_(best.c.run_id == runs.c.run_id, best.c.param_id == runs.c.best_param_id))
            .where(runs.c.run_id == self.run_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).one()
        return Counts(row.budget, row.leased, row.done, row.failed, None if row.param_id is None else _record(row))

    def finished(self, param_ids: list[str]) -> list[TrialRecord]:
        """Those of `param_ids` that have finished (leased elsewhere, watched for their result)."""
        if not param_ids:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(trials).where(
                    trials.c.run_id == self.run_id, trials.c.param_id.in_(param_ids), trials.c.status != "leased"
                )
            ).all()
        return [_record(row) for row in rows]

    def records(self) -> list[TrialRecord]:
        """Every finished trial of the run, in lease order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(trials)
                .where(trials.c.run_id == self.run_id, trials.c.status != "leased")
                .order_by(trials.c.number)
            ).all()
        return [_record(row) for row in rows]

    def _update_run(self, conn: Connection, **values: Any) -> None:
        conn.execute(runs.update().where(runs.c.run_id == self.run_id).values(**values))

    def _lock_run(self, conn: Connection) -> Any:
        query = select(runs.c.budget, runs.c.leased, runs.c.done).where(runs.c.run_id == self.run_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # serialises leases of this run across runners
        return conn.execute(query).one()


def _record(row: Any) -> TrialRecord:
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


def ledger_engine(url: str) -> Engine:
    """A SQLAlchemy engine for a study storage URL ("memory" keeps it in this process)."""
    if url == "memory":
        return create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    return create_engine(sqlalchemy_url(url), pool_pre_ping=True)


def sqlalchemy_url(url: str) -> URL:
    """psycopg 3 is the PostgreSQL driver here; plain `postgresql://` URLs use it too."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class _Liveness:
    """Tells whether another runner of this run is gone. The base case has no others."""

    def is_gone(self, runner_id: str) -> bool:
        return True

    def forget(self, runner_id: str) -> None:
        pass

    def release(self) -> None:
        pass


class _AdvisoryLocks(_Liveness):
    """PostgreSQL: each runner holds a session advisory lock; a dead runner's lock is free."""

    def __init__(self, engine: Engine, run_id: str, runner_id: str):
        self.run_id = run_id
        self.conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if not self.conn.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (self._key(runner_id),)).scalar():
            self.conn.close()
            raise LedgerError(f"runner id {runner_id!r} is already running run {run_id!r}; give each runner its own id")

    def _key(self, runner_id: str) -> int:
        digest = hashlib.blake2b(f"modelops:runner|{self.run_id}|{runner_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    def is_gone(self, runner_id: str) -> bool:
        return bool(self.conn.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (self._key(runner_id),)).scalar())

    def forget(self, runner_id: str) -> None:
        self.conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (self._key(runner_id),))

    def release(self) -> None:
        self.conn.close()  # ends the session, which frees every lock it held


class _FileLock(_Liveness):
    """SQLite serves one runner: an exclusive OS lock beside the database file says which."""

    def __init__(self, database: str):
        self.path = Path(database).with_suffix(Path(database).suffix + ".lock")
        self.handle = open(self.path, "w")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise LedgerError(
                f"another runner is using the SQLite study {database}; SQLite serves one runner, "
                "use PostgreSQL to share a study between runners"
            ) from None

    def release(self) -> None:
        self.handle.close()


def _liveness(engine: Engine, run_id: str, runner_id: str) -> _Liveness:
    if engine.dialect.name == "postgresql":
        return _AdvisoryLocks(engine, run_id, runner_id)
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        return _FileLock(database)
    return _Liveness()
