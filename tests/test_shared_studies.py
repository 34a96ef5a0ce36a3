"""Runners sharing one study, and runners dying: real processes, real PostgreSQL and SQLite."""

import collections
import json

import optuna
import polars as pl
import pytest

from modelops.seeds import replicate_seeds
from modelops_contracts import make_param_id
from runner.ledger import Ledger, LedgerError
from runner.study import optuna_storage
from tests.runner_processes import calls, finish, kill_group, start_runner, wait_until, write_run


def finished_in(storage: str, run_id: str, budget: int) -> set[str]:
    """param_ids the run's ledger holds as finished."""
    ledger = Ledger.open(storage, run_id, "observer", budget)
    try:
        return {record.param_id for record in ledger.records()}
    finally:
        ledger.close()


def trial_events(path):
    events = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [e for e in events if e["type"] == "modelops.trial.completed"]


def evaluations(calls_path):
    """How many times each replicate (param_id, seed) was simulated."""
    counts = collections.Counter()
    for x, y, seed in calls(calls_path):
        counts[(make_param_id({"x": x, "y": y}), seed)] += 1
    return counts


def test_two_runners_on_postgresql_split_a_60_trial_budget_exactly_once(tmp_path, postgres_url):
    spec = write_run(tmp_path, trials=60, compute={"runners": 2}, central_store={})
    log = tmp_path / "calls.log"
    runners = [start_runner(spec, "shared", postgres_url, tmp_path / "out", log, "--runner-id", r) for r in "ab"]
    summaries = [finish(process) for process in runners]

    assert [s["n_trials"] for s in summaries] == [60, 60]
    assert sum(s["evaluated_here"] for s in summaries) == 60
    assert all(s["evaluated_here"] > 0 for s in summaries)  # both did real work
    trials = pl.read_parquet(tmp_path / "out" / "trials.parquet")
    assert trials.height == 60 and trials["param_id"].n_unique() == 60
    assert sorted(trials["number"]) == list(range(60))
    assert set(evaluations(log).values()) == {1} and len(evaluations(log)) == 60 * 2  # 2 replicates each
    study = optuna.load_study(study_name="shared", storage=optuna_storage(postgres_url, "shared"))
    assert not [t for t in study.trials if t.state.name == "RUNNING"]


def test_a_second_runner_on_one_sqlite_study_is_refused(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first = Ledger.open(storage, "solo", "a", budget=10)
    try:
        with pytest.raises(LedgerError, match="SQLite serves one runner, use PostgreSQL"):
            Ledger.open(storage, "solo", "b", budget=10)
    finally:
        first.close()
    Ledger.open(storage, "solo", "b", budget=10).close()  # free again once the first is gone


def test_one_runner_id_cannot_run_twice_on_postgresql(postgres_url):
    first = Ledger.open(postgres_url, "twice", "a", budget=10)
    try:
        with pytest.raises(LedgerError, match="runner id 'a' is already running"):
            Ledger.open(postgres_url, "twice", "a", budget=10)
    finally:
        first.close()


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_a_runner_killed_mid_run_and_restarted_finishes_without_repeating_finished_trials(
    tmp_path, store, request
):
    storage = f"sqlite:///{tmp_path / 'study.db'}" if store == "sqlite" else request.getfixturevalue("postgres_url")
    spec = write_run(tmp_path, trials=40)
    log, sink = tmp_path / "calls.log", tmp_path / "events.jsonl"
    command = (spec, "crash", storage, tmp_path / "out", log, "--events", str(sink))
    first = start_runner(*command)
    wait_until(lambda: len(calls(log)) >= 30, what="30 simulations")  # well into the run, trials in flight
    kill_group(first)  # SIGKILL: events queued or in flight are never sent by this process
    finished_first = finished_in(storage, "crash", 40)
    assert 0 < len(finished_first) < 40

    summary = finish(start_runner(*command))
    assert summary["n_trials"] == 40 and summary["status"] == "completed"
    assert summary["evaluated_here"] == 40 - len(finished_first)  # the rest, leased-but-unfinished included
    trials = pl.read_parquet(tmp_path / "out" / "trials.parquet")
    assert trials.height == 40 and trials["param_id"].n_unique() == 40
    simulated = evaluations(log)
    for param_id in finished_first:
        for seed in replicate_seeds(param_id, 2):
            assert simulated[(param_id, seed)] == 1, "a trial finished before the kill was simulated again"
    ids_by_trial = collections.defaultdict(set)
    for event in trial_events(sink):
        ids_by_trial[event["data"]["trial"]["param_id"]].add(event["id"])
    assert set(ids_by_trial) == set(trials["param_id"])  # every finished trial was reported, after the restart too
    assert all(len(ids) == 1 for ids in ids_by_trial.values())  # a trial sent twice has one id: deduped
    study = optuna.load_study(study_name="crash", storage=optuna_storage(storage, "crash"))
    assert not [t for t in study.trials if t.state.name == "RUNNING"]  # ledger and study agree


def test_a_live_runner_takes_over_the_leases_of_one_that_died(tmp_path, postgres_url):
    spec = write_run(tmp_path, trials=40, compute={"runners": 2}, central_store={})
    log = tmp_path / "calls.log"
    doomed = start_runner(spec, "takeover", postgres_url, tmp_path / "out", log, "--runner-id", "doomed")
    survivor = start_runner(spec, "takeover", postgres_url, tmp_path / "out", log, "--runner-id", "survivor")
    wait_until(lambda: len(calls(log)) >= 20, what="20 simulations")
    kill_group(doomed)
    finished_first = finished_in(postgres_url, "takeover", 40)

    summary = finish(survivor)
    assert summary["n_trials"] == 40 and summary["status"] == "completed"
    trials = pl.read_parquet(tmp_path / "out" / "trials.parquet")
    assert trials.height == 40 and trials["param_id"].n_unique() == 40
    simulated = evaluations(log)
    assert all(simulated[(p, s)] == 1 for p in finished_first for s in replicate_seeds(p, 2))
