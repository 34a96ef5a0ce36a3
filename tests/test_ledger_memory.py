"""The in-memory ledger keeps what the SQL ledger keeps: one lease per set within the budget, each result once."""

from runner.ledger import Ledger
from runner.ledger_memory import MemoryLedger
from runner.trials import TrialRecord


def finished(number: int, param_id: str, loss: float | None, status: str = "completed") -> TrialRecord:
    record = TrialRecord(number, param_id, {"x": number}, (1, 2), 0.0)
    record.finish({"status": status, "loss": loss, "sim_seconds": 0.01}, 1.0)
    return record


def test_memory_leases_number_sets_once_within_the_budget_and_know_what_finished():
    ledger = Ledger.open("memory", "run", "runner", budget=3)
    assert isinstance(ledger, MemoryLedger)
    leases = ledger.lease([("a", {"x": 0}), ("b", {"x": 1}), ("a", {"x": 0})])
    assert [(lease.outcome, lease.number) for lease in leases] == [("new", 0), ("new", 1), ("mine", 0)]
    assert [lease.outcome for lease in ledger.lease([("c", {}), ("d", {}), ("b", {})])] == ["new", "full", "mine"]

    assert ledger.complete([finished(1, "b", 0.5), finished(2, "c", None, "failed")]) == [True, True]
    assert ledger.complete([finished(1, "b", 0.5), finished(9, "zz", 1.0)]) == [True, False]  # stored; never leased
    again = ledger.lease([("b", {"x": 1})])[0]
    assert again.outcome == "finished" and again.record.loss == 0.5
    counts = ledger.counts()
    assert (counts.budget, counts.leased, counts.done, counts.failed, counts.best.param_id) == (3, 1, 2, 1, "b")
    assert [r.param_id for r in ledger.finished(["a", "b", "c"])] == ["b", "c"]


def test_memory_records_are_in_lease_order_copied_and_reported_once():
    ledger = MemoryLedger("run", "runner", budget=4)
    ledger.lease([(pid, {}) for pid in "abcd"])
    mine = finished(3, "d", 0.1)
    ledger.complete([mine, finished(1, "b", 0.3)])
    ledger.complete([finished(0, "a", 0.2)])
    mine.loss = 99.0  # the caller's record changes; the ledger's does not
    assert [(r.number, r.loss) for r in ledger.records()] == [(0, 0.2), (1, 0.3), (3, 0.1)]
    assert ledger.counts().best.loss == 0.1 and ledger.reclaim() == []

    ledger.mark_reported(["a", "d"])
    assert [r.param_id for r in ledger.unreported()] == ["b"]
    phase = ledger.phase("confirm", budget=1)
    assert phase.run_id == "run/confirm" and [lease.outcome for lease in phase.lease([("a", {})])] == ["new"]
