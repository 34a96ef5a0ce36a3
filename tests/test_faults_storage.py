"""Fault suite: the study's PostgreSQL restarts, goes down for a while, or for too long;
and a runner freezes while another shares the study."""

import json
import os
import signal
import time

import optuna
import polars as pl
import pytest

from runner.study import optuna_storage
from tests.runner_processes import calls, finish, start_runner, wait_until, write_run
from tests.services import run_postgres

OUTAGE_SECONDS = 10  # the fault itself: how long the server stays down


@pytest.fixture(scope="module")
def durable_postgres():
    """A PostgreSQL server of this module's own, which keeps what it committed across a crash."""
    with run_postgres(durable=True) as service:
        yield service


@pytest.fixture
def own_postgres(durable_postgres):
    """That server, which the test may stop and start; it is up again for the next test."""
    yield durable_postgres
    if not durable_postgres.accepts_connections():
        durable_postgres.start()


def trials_in(out):
    trials = pl.read_parquet(out / "trials.parquet")
    assert trials["param_id"].n_unique() == trials.height  # no parameter set twice
    return trials


def no_trial_running(storage, run_id):
    study = optuna.load_study(study_name=run_id, storage=optuna_storage(storage, run_id))
    return not [t for t in study.trials if t.state.name == "RUNNING"]


def test_a_postgresql_restart_and_a_10_s_outage_are_ridden_out_counting_nothing_twice(tmp_path, own_postgres, monkeypatch):
    monkeypatch.setenv("MODELOPS_TEST_SLEEP", "0.05")
    storage = own_postgres.create_database()
    spec = write_run(tmp_path, trials=40)
    log, out = tmp_path / "calls.log", tmp_path / "out"
    runner = start_runner(spec, "outage", storage, out, log)
    wait_until(lambda: len(calls(log)) >= 10, what="10 simulations by the runner")
    own_postgres.restart()
    seen = len(calls(log))
    wait_until(lambda: len(calls(log)) >= seen + 10, what="10 simulations after the restart")  # it went on after the restart
    own_postgres.stop()
    time.sleep(OUTAGE_SECONDS)
    own_postgres.start()

    summary = finish(runner)
    assert summary["status"] == "completed" and summary["n_trials"] == 40 and summary["n_failed"] == 0
    assert trials_in(out).height == 40
    assert no_trial_running(storage, "outage")


def test_an_outage_past_the_bound_stops_the_run_cleanly_with_its_results(tmp_path, own_postgres, monkeypatch):
    monkeypatch.setenv("MODELOPS_TEST_SLEEP", "0.05")
    monkeypatch.setenv("MODELOPS_STORAGE_OUTAGE_SECONDS", "1")  # the bound's length is not the point
    storage = own_postgres.create_database()
    spec = write_run(tmp_path, trials=400)
    log, out, sink = tmp_path / "calls.log", tmp_path / "out", tmp_path / "events.jsonl"
    runner = start_runner(spec, "down", storage, out, log, "--events", str(sink))
    wait_until(lambda: len(calls(log)) >= 10, what="10 simulations by the runner")
    own_postgres.stop()

    stdout, stderr = runner.communicate(timeout=120)
    assert runner.returncode == 1, stderr[-3000:]
    assert "Traceback" not in stderr
    failure = [line for line in stderr.splitlines() if line.startswith("calibration failed:")]
    assert len(failure) == 1 and "unreachable for" in failure[0] and "MODELOPS_STORAGE_OUTAGE_SECONDS" in failure[0]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed" and summary["n_trials"] > 0
    assert trials_in(out).height == summary["n_trials"]
    events = [json.loads(line) for line in sink.read_text().splitlines()]
    assert events[-1]["type"] == "modelops.run.failed" and "unreachable" in events[-1]["data"]["reason"]


def test_a_frozen_runner_does_not_stall_the_one_sharing_its_study(tmp_path, postgres_url, monkeypatch):
    monkeypatch.setenv("MODELOPS_TEST_SLEEP", "0.05")
    monkeypatch.setenv("MODELOPS_LEASE_TIMEOUT_SECONDS", "5")
    spec = write_run(tmp_path, trials=40, compute={"runners": 2}, central_store={})
    out, logs = tmp_path / "out", {name: tmp_path / f"{name}.log" for name in ("frozen", "live")}
    # Both start at once (a runner's start-up is most of its cost); each simulates before the freeze.
    frozen, live = (start_runner(spec, "frozen", postgres_url, out, logs[name], "--runner-id", name) for name in logs)
    wait_until(lambda: len(calls(logs["frozen"])) >= 4 and len(calls(logs["live"])) >= 4, what="4 simulations by each runner")
    os.killpg(frozen.pid, signal.SIGSTOP)  # the runner and its workers: leases held, no progress
    try:
        summary = finish(live)  # finishes while the other stays frozen
        assert summary["status"] == "completed" and summary["n_trials"] == 40
        trials = trials_in(out)
        assert trials.height == 40
    finally:
        os.killpg(frozen.pid, signal.SIGCONT)
    thawed = finish(frozen)  # wakes up to a finished run: its reclaimed trials are not counted again
    assert thawed["n_trials"] == 40
    assert trials_in(out).height == 40
    assert no_trial_running(postgres_url, "frozen")
