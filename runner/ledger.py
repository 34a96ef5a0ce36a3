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

Bookkeeping costs O(1) per trial, however long the run: the run's counts and
best live in its row, kept by every lease and completion. On SQLite and in
memory this runner is the only writer (the file lock says so), so it keeps them
in process too and never reads them back (in memory the whole ledger is this
process's dicts: `runner.ledger_memory`); on PostgreSQL a completion returns
them, and `counts` serves those for a moment. Finished rows never change, so
`records` decodes each once and then reads only rows from the first trial not
known finished on (other runners' and reclaimed ones included).
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import replace
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from .database import ledger_engine
from .ledger_complete import Counts, counted, store_finished
from .ledger_lease import LEASE_FUNCTION, Lease, decide, lease_in_one_call
from .ledger_memory import MemoryLedger
from .ledger_tables import (
    ADD_LEASED,
    AMONG,
    COUNTS,
    FINISHED_AMONG,
    FINISHED_FROM,
    LEASE,
    RUN_COUNTS,
    create_or_upgrade,
    record_of,
    runs,
    trials,
)
from .liveness import Liveness, LivenessError
from .liveness import liveness as runner_liveness
from .run_document import SpecMismatch, compared_document, differences, document_digest, document_json
from .storage_retry import retried
from .trials import TrialRecord

# PostgreSQL: how long the counts a completion returned stand for the run's (see `Ledger.counts`).
COUNTS_FRESH_SECONDS = 0.1
# Opening a ledger on PostgreSQL takes this lock while it creates or upgrades the tables and the lease function.
_SCHEMA_KEY = 0x6D6F70734C444752


class LedgerError(RuntimeError):
    """The ledger cannot be used as asked (e.g. a second runner on SQLite)."""


def _retried(method: Any) -> Any:
    """A ledger call that rides out a study storage outage (its writes are idempotent)."""

    @functools.wraps(method)
    def call(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        what = f"{method.__name__.strip('_')} in the trial ledger"
        # A retried write may have committed before it failed: the counts kept here are read again.
        return retried(lambda: method(self, *args, **kwargs), what, on_retry=self._forget_counts)

    return call


class Ledger:
    def __init__(
        self,
        engine: Engine,
        run_id: str,
        runner_id: str,
        budget: int,
        document: dict[str, Any] | None = None,
        force: bool = False,
        liveness: Liveness | None = None,
    ):
        """`document` (the run document as a dict) must match the one the run started with, unless `force`."""
        self.engine = engine
        self.run_id = run_id
        self.runner_id = runner_id
        self._inherited = True  # leases held under this runner id before a restart are stale
        self._postgres = engine.dialect.name == "postgresql"
        # On PostgreSQL a read or a single statement is a transaction of its own: one round trip, no BEGIN/COMMIT.
        self._single = engine.execution_options(isolation_level="AUTOCOMMIT") if self._postgres else engine
        self._exclusive = not self._postgres  # SQLite (its file lock) and memory: nobody else writes this ledger
        self._known: Counts | None = None  # the counts after this runner's last write (see `counts`)
        self._known_at = 0.0  # PostgreSQL: when a completion returned them (monotonic)
        self._best: TrialRecord | None = None  # the best trial of the counts last seen
        self._finished: dict[int, TrialRecord] = {}  # finished trials by number, decoded once (they never change)
        self._in_order: list[TrialRecord] = []  # the same, in lease order
        self._all_below = 0  # every trial numbered below this is finished and in `_finished`
        retried(lambda: self._upgrade(), "creating or upgrading the trial ledger")
        try:
            self._lock: Liveness = liveness or retried(lambda: runner_liveness(engine, run_id, runner_id), "joining the run")
        except LivenessError as exc:
            raise LedgerError(str(exc)) from None
        try:
            retried(lambda: self._start(budget, document, force), "opening the trial ledger")
        except BaseException:
            if liveness is None:
                self._lock.release()
            raise

    def _upgrade(self) -> None:
        with self.engine.begin() as conn:
            if self._postgres:  # ledgers opening at once would race to replace the function
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_KEY})
            create_or_upgrade(conn)
            if self._postgres:
                conn.exec_driver_sql(LEASE_FUNCTION)

    def _start(self, budget: int, document: dict[str, Any] | None, force: bool) -> None:
        run_id = self.run_id
        compared = None if document is None else compared_document(document)
        digest = None if compared is None else document_digest(compared)
        with self.engine.begin() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
            if row is None:
                conn.execute(
                    runs.insert().values(run_id=run_id, budget=budget, spec_sha256=digest, document=document_json(compared))
                )
                return
            if digest is not None and row.spec_sha256 not in (None, digest) and not force:
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
    ) -> Ledger | MemoryLedger:  # fmt: skip
        """The ledger at a study storage URL; "memory": this process's own (`runner.ledger_memory`)."""
        if url == "memory":
            return MemoryLedger(run_id, runner_id, budget)
        return cls(ledger_engine(url), run_id, runner_id, budget, document, force)

    @_retried
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

    @_retried
    def unreported(self) -> list[TrialRecord]:
        """Finished trials whose events not every sink took (a crash came first), in lease order."""
        with self._single.connect() as conn:
            rows = conn.execute(
                select(trials)
                .where(trials.c.run_id == self.run_id, trials.c.status != "leased", trials.c.reported == 0)
                .order_by(trials.c.number)
            ).all()
        return [record_of(row) for row in rows]

    def close(self) -> None:
        self._lock.release()
        self.engine.dispose()

    def phase(self, name: str, budget: int) -> Ledger:
        """The ledger of a later phase of this run (e.g. confirmation), under the same runner lock.

        Its rows are a run of their own (`<run id>/<name>`), so they count
        against their own budget and never against the search's.
        """
        return Ledger(self.engine, f"{self.run_id}/{name}", self.runner_id, budget, liveness=self._lock)

    @_retried
    def lease(self, proposals: list[tuple[str, dict[str, Any]]]) -> list[Lease]:
        """Reserve each (param_id, params) for this runner if the budget has room and nobody has it.

        One transaction for the whole list (on PostgreSQL one statement: `runner.ledger_lease`); outcomes come
        back in its order. A
        set this runner holds already comes back "mine": a retry whose first
        try committed, or a proposal of a set it is evaluating.
        """
        if not proposals:
            return []
        stamp = time.time()
        if self._postgres:  # one round trip, under the run's row lock
            self._known = None  # its leased count changes
            with self._single.connect() as conn:
                rows, numbers = lease_in_one_call(conn, self.run_id, self.runner_id, proposals, stamp)
            first = numbers[0] if numbers else 0
            return decide(proposals, lambda pid: self._lease_of(rows.get(pid)), first, first + len(numbers))[0]
        known = self._known
        with self.engine.begin() as conn:
            run = known or conn.execute(RUN_COUNTS, {"run": self.run_id}).one()
            among = {"run": self.run_id, "param_ids": [pid for pid, _ in proposals]}
            existing = {row.param_id: row for row in conn.execute(AMONG, among)}
            leases, new = decide(proposals, lambda pid: self._lease_of(existing.get(pid)), run.leased + run.done, run.budget)
            rows = [
                dict(run_id=self.run_id, param_id=param_id, number=number, params=json.dumps(params), status="leased",
                     runner_id=self.runner_id, leased_at=stamp)
                for param_id, params, number in new
            ]  # fmt: skip
            if rows:
                conn.execute(LEASE, rows)
                conn.execute(ADD_LEASED, {"run": self.run_id, "n": len(rows)})
        self._known = known and replace(known, leased=known.leased + len(rows))
        return leases

    def _lease_of(self, row: Any) -> Lease | None:
        """The lease of a set whose row is `row` (None: it has none)."""
        if row is None:
            return None
        if row.status != "leased":
            return Lease("finished", row.number, record_of(row))
        return Lease("mine" if row.runner_id == self.runner_id else "leased", row.number)

    @_retried
    def complete(self, records: list[TrialRecord]) -> list[bool]:
        """Store finished trials; False for one whose lease is no longer ours (it was reclaimed).

        A row this runner already stored with the same result counts as stored:
        a retry whose first try committed.
        """
        stored = store_finished(self._single if self._postgres else self.engine, self.run_id, self.runner_id, records)
        if self._exclusive:
            self._known = self._known and counted(self._known, stored.newly)
        else:
            self._known = None if stored.run is None else self._returned(stored.run, records)
            self._known_at = time.monotonic()
        return stored.kept

    def _returned(self, run: Any, records: list[TrialRecord]) -> Counts | None:
        """The counts a completion returned, with its best trial if known here (else None: read them)."""
        best = None
        if run.best_param_id is not None:
            if self._best is not None and self._best.param_id == run.best_param_id:
                best = self._best
            else:
                best = next((replace(r) for r in records if r.param_id == run.best_param_id), None)
                if best is None:  # another runner's
                    return None
        self._best = best
        return Counts(run.budget, run.leased, run.done, run.failed, best)

    def _forget_counts(self) -> None:
        self._known = None

    def reclaim(self) -> list[TrialRecord]:
        """Take over the leases of runners that are gone; they must be evaluated again."""
        reclaimed: list[TrialRecord] = []
        if self._inherited:
            reclaimed += retried(self._inherited_leases, "reading this runner's leases")
            self._inherited = False
        owners = retried(self._other_owners, "reading leases")
        for owner in [owner for owner in owners if self._lock.is_gone(owner)]:
            stamp = time.time()  # the same in every try, so a retry finds what a committed first try took
            reclaimed += retried(lambda: self._take_over(owner, stamp), "reclaiming leases")
            self._lock.forget(owner)
        return reclaimed

    def _inherited_leases(self) -> list[TrialRecord]:
        with self._single.connect() as conn:
            rows = conn.execute(
                select(trials).where(
                    trials.c.run_id == self.run_id, trials.c.runner_id == self.runner_id, trials.c.status == "leased"
                )
            ).all()
        return [record_of(row) for row in rows]

    def _other_owners(self) -> list[str]:
        with self._single.connect() as conn:
            return list(
                conn.execute(
                    select(trials.c.runner_id)
                    .where(
                        trials.c.run_id == self.run_id, trials.c.status == "leased", trials.c.runner_id != self.runner_id
                    )
                    .distinct()
                ).scalars()
            )

    def _take_over(self, owner: str, stamp: float) -> list[TrialRecord]:
        """One UPDATE ... RETURNING, so two runners reclaiming the same owner never both get a lease."""
        leased = (trials.c.run_id == self.run_id) & (trials.c.status == "leased")
        with self.engine.begin() as conn:
            rows = conn.execute(
                trials.update()
                .where(leased & (trials.c.runner_id == owner))
                .values(runner_id=self.runner_id, leased_at=stamp)
                .returning(*trials.c)
            ).all()
            if not rows:  # a retry whose first try committed
                rows = conn.execute(
                    select(trials).where(leased & (trials.c.runner_id == self.runner_id) & (trials.c.leased_at == stamp))
                ).all()
        return [record_of(row) for row in rows]

    @_retried
    def counts(self) -> Counts:
        """The run's counts and its best trial, kept by `lease` and `complete`.

        No read where this runner is the only writer; on PostgreSQL the counts a
        completion returned are served for `COUNTS_FRESH_SECONDS` (until a lease),
        then calls read one row. Others' progress is seen that much later; the
        lease itself keeps the budget, whatever the counts said.
        """
        known = self._known
        if known is not None and (self._exclusive or time.monotonic() - self._known_at < COUNTS_FRESH_SECONDS):
            return known
        counts = self._read_counts()
        self._known, self._best = (counts if self._exclusive else None), counts.best
        return counts

    def _read_counts(self) -> Counts:
        with self._single.connect() as conn:
            row = conn.execute(COUNTS, {"run": self.run_id}).one()
        return Counts(row.budget, row.leased, row.done, row.failed, None if row.param_id is None else record_of(row))

    @_retried
    def finished(self, param_ids: list[str]) -> list[TrialRecord]:
        """Those of `param_ids` that have finished (leased elsewhere, watched for their result)."""
        if not param_ids:
            return []
        with self._single.connect() as conn:
            rows = conn.execute(FINISHED_AMONG, {"run": self.run_id, "param_ids": param_ids}).all()
        return [record_of(row) for row in rows]

    @_retried
    def records(self) -> list[TrialRecord]:
        """Every finished trial of the run, in lease order: the ledger's own records, not to be changed.

        Reads only rows numbered from the first trial not known finished, and decodes only the new ones.
        """
        with self._single.connect() as conn:
            rows = conn.execute(FINISHED_FROM, {"run": self.run_id, "from_number": self._all_below}).all()
        new = [record_of(row) for row in rows if row.number not in self._finished]
        for record in new:
            self._finished[record.number] = record
        while self._all_below in self._finished:
            self._all_below += 1
        if new and self._in_order and new[0].number < self._in_order[-1].number:
            self._in_order = [self._finished[number] for number in sorted(self._finished)]
        else:
            self._in_order += new
        return list(self._in_order)


