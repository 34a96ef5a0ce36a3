"""The trial ledger on its own: a ledger made by an older version upgraded in place, and batches stored exactly once."""

import json
import multiprocessing

import pytest
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, inspect

from runner.database import sqlalchemy_url
from runner import ledger as ledger_module
from runner.ledger import Ledger, LedgerError
from runner.ledger_tables import runs, trials
from runner.trials import TrialRecord


def old_ledger(url: str) -> None:
    """The ledger as the first version made it: no counts, best, document or `reported` column."""
    old = MetaData()
    old_runs = Table("modelops_runs", old, Column("run_id", String(63), primary_key=True),
                     Column("budget", Integer, nullable=False))  # fmt: skip
    old_trials = Table(
        "modelops_trials", old,
        Column("run_id", String(63), primary_key=True), Column("param_id", String(64), primary_key=True),
        Column("number", Integer, nullable=False), Column("params", Text, nullable=False),
        Column("status", String(16), nullable=False), Column("runner_id", String(128), nullable=False),
        Column("leased_at", Float, nullable=False), Column("finished_at", Float), Column("loss", Float),
        Column("record", Text),
    )  # fmt: skip
    engine = create_engine(sqlalchemy_url(url))
    finished = {"seeds": ["1", "2"], "submitted_at": 1.0, "target_losses": {}, "error": None, "sim_seconds": 0.1}
    rows = [("p0", "completed", 0.5), ("p1", "completed", 0.25), ("p2", "failed", None), ("p3", "leased", None)]
    with engine.begin() as conn:
        old.create_all(conn)
        conn.execute(old_runs.insert().values(run_id="run", budget=6))
        for number, (param_id, status, loss) in enumerate(rows):
            done = status != "leased"
            conn.execute(old_trials.insert().values(
                run_id="run", param_id=param_id, number=number, params=json.dumps({"x": number}), status=status,
                runner_id="gone", leased_at=1.0, finished_at=2.0 if done else None, loss=loss,
                record=json.dumps(finished) if done else None,
            ))  # fmt: skip
    engine.dispose()


def finish(record: TrialRecord, loss: float) -> TrialRecord:
    record.finish({"status": "completed", "loss": loss, "sim_seconds": 0.1}, 3.0)
    return record


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("postgres_url")


def test_a_ledger_made_by_an_older_version_is_upgraded_in_place_and_resumed(url):
    old_ledger(url)
    ledger = Ledger.open(url, "run", "runner", budget=6)
    try:
        columns = {c["name"] for c in inspect(ledger.engine).get_columns("modelops_trials")}
        assert columns == {c.name for c in trials.columns}
        assert {c["name"] for c in inspect(ledger.engine).get_columns("modelops_runs")} == {c.name for c in runs.columns}
        counts = ledger.counts()  # counted once from the trials the old version left
        assert (counts.budget, counts.leased, counts.done, counts.failed) == (6, 1, 3, 1)
        assert counts.best.param_id == "p1" and counts.best.loss == 0.25 and counts.best.seeds == (1, 2)
        assert [r.param_id for r in ledger.unreported()] == ["p0", "p1", "p2"]  # their events are sent again

        (reclaimed,) = ledger.reclaim()  # the old runner's lease, taken over
        assert reclaimed.param_id == "p3"
        leases = ledger.lease([("p1", {"x": 1}), ("p4", {"x": 4}), ("p5", {"x": 5}), ("p6", {"x": 6})])
        assert [lease.outcome for lease in leases] == ["finished", "new", "new", "full"]
        new = [TrialRecord(lease.number, pid, {"x": 0}, (7,), 2.5) for pid, lease in zip(["p4", "p5"], leases[1:3])]
        assert ledger.complete([finish(reclaimed, 0.75), finish(new[0], 0.1), finish(new[1], 0.2)]) == [True] * 3
        counts = ledger.counts()
        assert (counts.leased, counts.done, counts.failed, counts.best.param_id) == (0, 6, 1, "p4")
        assert [r.param_id for r in ledger.records()] == ["p0", "p1", "p2", "p3", "p4", "p5"]
    finally:
        ledger.close()
    reopened = Ledger.open(url, "run", "runner", budget=6)  # already upgraded: opened as is
    try:
        assert reopened.counts().done == 6
    finally:
        reopened.close()


def test_a_batch_stored_again_after_its_commit_went_unconfirmed_is_counted_once(url):
    ledger = Ledger.open(url, "run", "a", budget=4)
    other = Ledger.open(url, "run", "b", budget=4) if url.startswith("postgresql") else None
    try:
        leases = ledger.lease([(f"p{i}", {"x": i}) for i in range(3)])
        records = [
            finish(TrialRecord(lease.number, f"p{i}", {"x": i}, (i,), 1.0), 1.0 - i / 10) for i, lease in enumerate(leases)
        ]
        assert ledger.complete(records[:2]) == [True, True]
        assert ledger.complete(records) == [True, True, True]  # the retry: stored once, counted once
        counts = ledger.counts()
        assert (counts.leased, counts.done, counts.failed, counts.best.param_id) == (0, 3, 0, "p2")
        if other is not None:  # a lease that is not (or no longer) this runner's is not stored by it
            (lease,) = other.lease([("p9", {"x": 9})])
            theirs = finish(TrialRecord(lease.number, "p9", {"x": 9}, (9,), 1.0), 0.0)
            assert ledger.complete([theirs]) == [False]
            assert other.complete([theirs]) == [True] and ledger.counts().best.param_id == "p9"
    finally:
        ledger.close()
        if other is not None:
            other.close()


def test_the_counts_one_runner_keeps_in_process_are_what_a_restart_reads_from_the_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    ledger = Ledger.open(url, "run", "a", budget=5)
    try:
        leases = ledger.lease([(f"p{i}", {"x": i}) for i in range(4)])
        records = [TrialRecord(lease.number, f"p{i}", {"x": i}, (i,), 1.0) for i, lease in enumerate(leases)]
        finish(records[0], 0.5), finish(records[1], 0.25)
        records[2].finish({"status": "failed", "error": {"type": "E", "message": "m"}, "sim_seconds": 0.0}, 3.0)
        assert ledger.complete(records[:3]) == [True] * 3
        kept = ledger.counts()
        assert (kept.budget, kept.leased, kept.done, kept.failed, kept.best.param_id) == (5, 1, 3, 1, "p1")
        with pytest.raises(LedgerError, match="SQLite serves one runner"):  # so nobody else changes its counts
            Ledger.open(url, "another run", "b", budget=5)
    finally:
        ledger.close()
    reopened = Ledger.open(url, "run", "a", budget=5)
    try:
        assert reopened.counts() == kept
    finally:
        reopened.close()


def test_records_read_again_bring_every_runners_newly_finished_trials_once_in_lease_order(postgres_url, monkeypatch):
    monkeypatch.setattr(ledger_module, "COUNTS_FRESH_SECONDS", 3600.0)
    a = Ledger.open(postgres_url, "run", "a", budget=6)
    b = Ledger.open(postgres_url, "run", "b", budget=6)
    try:
        mine = [TrialRecord(lease.number, f"a{i}", {"x": i}, (i,), 1.0)
                for i, lease in enumerate(a.lease([("a0", {"x": 0}), ("a1", {"x": 1})]))]  # fmt: skip
        theirs = [TrialRecord(lease.number, f"b{i}", {"x": i}, (i,), 1.0)
                  for i, lease in enumerate(b.lease([("b0", {"x": 0}), ("b1", {"x": 1})]))]  # fmt: skip
        assert a.complete([finish(mine[1], 0.5)]) == [True]
        assert [r.param_id for r in a.records()] == ["a1"]
        assert b.complete([finish(theirs[0], 0.25)]) == [True]
        assert a.counts().best.param_id == a.counts().best.param_id == "a1"  # served: what a's completion returned
        monkeypatch.setattr(ledger_module, "COUNTS_FRESH_SECONDS", 0.0)
        assert a.counts().best.param_id == "b0"  # once they are stale, read: another runner's best
        assert a.complete([finish(mine[0], 0.75)]) == [True]
        assert a.counts().best.param_id == "b0"
        assert [r.param_id for r in a.records()] == ["a0", "a1", "b0"]
        b.close()
        (reclaimed,) = a.reclaim()  # b is gone: its lease is a's now
        assert a.complete([finish(reclaimed, 0.1)]) == [True]
        assert a.counts().best.param_id == "b1"
        assert [r.param_id for r in a.records()] == ["a0", "a1", "b0", "b1"]
        assert [r.param_id for r in a.records()] == ["a0", "a1", "b0", "b1"]
    finally:
        a.close()


RACE_RUNNERS, RACE_POOL, RACE_BUDGET = 4, 40, 30


def lease_at_once(url: str, runner: str, start, leased) -> None:
    """One runner process: lease 3 of a shared pool of sets at a time, each call overlapping the others'."""
    ledger = Ledger.open(url, "race", runner, budget=RACE_BUDGET)
    start.wait()
    for call in range(RACE_POOL // 2):
        proposals = [(f"p{(call * 2 + offset) % RACE_POOL}", {"x": offset}) for offset in range(3)]
        for (param_id, _), lease in zip(proposals, ledger.lease(proposals)):
            if lease.outcome == "new":
                leased.put((param_id, lease.number))
    ledger.close()


def test_runners_leasing_at_once_on_postgresql_take_each_set_and_each_number_once_within_the_budget(postgres_url):
    Ledger.open(postgres_url, "race", "setup", budget=RACE_BUDGET).close()  # the tables exist before the race
    context = multiprocessing.get_context("spawn")
    start, leased = context.Barrier(RACE_RUNNERS), context.Queue()
    runners = [context.Process(target=lease_at_once, args=(postgres_url, f"r{i}", start, leased))
               for i in range(RACE_RUNNERS)]  # fmt: skip
    for process in runners:
        process.start()
    for process in runners:
        process.join(timeout=120)
    assert [process.exitcode for process in runners] == [0] * RACE_RUNNERS
    new = [leased.get(timeout=5) for _ in range(RACE_BUDGET)]
    assert leased.empty()
    assert sorted(number for _, number in new) == list(range(RACE_BUDGET))  # the budget, each number once
    assert len({param_id for param_id, _ in new}) == RACE_BUDGET  # no set leased twice
    observer = Ledger.open(postgres_url, "race", "observer", budget=RACE_BUDGET)
    assert (observer.counts().leased, observer.counts().done) == (RACE_BUDGET, 0)
    observer.close()
