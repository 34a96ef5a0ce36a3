"""The trial ledger of a run whose study lives in this process (`memory`): dicts, no SQL.

An in-memory run has one runner and ends with its process, so what the SQL
ledger guards against (other runners, restarts, outages) cannot happen to it.
What it keeps is the same: one lease per parameter set within the budget, each
finished trial once, the counts and the best kept as trials finish. Through
SQLite in memory that bookkeeping cost the runner's thread about 1 ms of CPU
per trial (statements built, run and decoded), time the workers waited for.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .ledger_complete import Counts, counted
from .ledger_lease import Lease, decide
from .trials import TrialRecord


class MemoryLedger:
    """`runner.ledger.Ledger`'s calls, for a run nobody else sees (`Ledger.open("memory", ...)` makes one)."""

    def __init__(self, run_id: str, runner_id: str, budget: int):
        self.run_id, self.runner_id = run_id, runner_id
        self._counts = Counts(budget, 0, 0, 0, None)
        self._leased: dict[str, int] = {}  # param_id -> number, while being evaluated
        self._finished: dict[str, TrialRecord] = {}  # param_id -> the ledger's own copy of its record
        self._in_order: list[TrialRecord] = []  # the same, in lease order once `records` sorted them
        self._sorted = True
        self._reported: set[str] = set()

    def lease(self, proposals: list[tuple[str, dict[str, Any]]]) -> list[Lease]:
        counts = self._counts
        leases, new = decide(proposals, self._lease_of, counts.leased + counts.done, counts.budget)
        for param_id, _, number in new:
            self._leased[param_id] = number
        self._counts = replace(counts, leased=counts.leased + len(new))
        return leases

    def _lease_of(self, param_id: str) -> Lease | None:
        record = self._finished.get(param_id)
        if record is not None:
            return Lease("finished", record.number, record)
        number = self._leased.get(param_id)
        return None if number is None else Lease("mine", number)

    def complete(self, records: list[TrialRecord]) -> list[bool]:
        """Store finished trials; False for one not leased here (a record stored already counts as stored)."""
        kept, newly = [], []
        for record in records:
            if self._leased.pop(record.param_id, None) is None:
                kept.append(record.param_id in self._finished)
                continue
            stored = replace(record)  # the ledger's own: the caller's record may change
            self._finished[record.param_id] = stored
            if self._in_order and stored.number < self._in_order[-1].number:
                self._sorted = False
            self._in_order.append(stored)
            newly.append(stored)
            kept.append(True)
        self._counts = counted(self._counts, newly)
        return kept

    def counts(self) -> Counts:
        return self._counts

    def records(self) -> list[TrialRecord]:
        """Every finished trial, in lease order: the ledger's own records, not to be changed."""
        if not self._sorted:
            self._in_order.sort(key=lambda record: record.number)
            self._sorted = True
        return list(self._in_order)

    def finished(self, param_ids: list[str]) -> list[TrialRecord]:
        return [self._finished[pid] for pid in param_ids if pid in self._finished]

    def reclaim(self) -> list[TrialRecord]:
        return []  # no other runner, and no lease survives this process

    def unreported(self) -> list[TrialRecord]:
        return [record for record in self.records() if record.param_id not in self._reported]

    def mark_reported(self, param_ids: list[str]) -> None:
        self._reported.update(param_ids)

    def phase(self, name: str, budget: int) -> MemoryLedger:
        """The ledger of a later phase of this run (see `Ledger.phase`)."""
        return MemoryLedger(f"{self.run_id}/{name}", self.runner_id, budget)

    def close(self) -> None:
        pass
