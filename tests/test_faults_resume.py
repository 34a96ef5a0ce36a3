"""Fault suite: a run resumed after a crash reports every trial, closes every open trial,
and refuses a changed document unless forced."""

import collections
import json

import optuna
import polars as pl
import yaml

from runner.study import optuna_storage
from tests.runner_processes import calls, finish, kill_group, start_runner, wait_until, write_run


def trial_events(path):
    events = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [e for e in events if e["type"] == "modelops.trial.completed"]


def test_after_a_crash_the_restart_sends_every_trial_event_once_per_id_and_leaves_no_trial_running(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("MODELOPS_TEST_SLEEP", "0.05")
    spec = write_run(tmp_path, trials=30)
    log, out, sink = tmp_path / "calls.log", tmp_path / "out", tmp_path / "events.jsonl"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    command = (spec, "resumed", storage, out, log, "--events", str(sink))
    first = start_runner(*command)
    wait_until(lambda: len(calls(log)) >= 20)
    kill_group(first)  # SIGKILL: events queued or in flight are never sent by this process

    summary = finish(start_runner(*command))
    assert summary["status"] == "completed" and summary["n_trials"] == 30
    trials = pl.read_parquet(out / "trials.parquet")
    ids_by_trial = collections.defaultdict(set)
    for event in trial_events(sink):
        ids_by_trial[event["data"]["trial"]["param_id"]].add(event["id"])
    assert set(ids_by_trial) == set(trials["param_id"])  # every finished trial was reported
    assert all(len(ids) == 1 for ids in ids_by_trial.values())  # a trial sent twice has one id: deduped
    study = optuna.load_study(study_name="resumed", storage=optuna_storage(storage, "resumed"))
    assert not [t for t in study.trials if t.state.name == "RUNNING"]


def test_resuming_with_a_changed_document_is_refused_naming_the_change_unless_forced(tmp_path):
    spec = write_run(tmp_path, trials=4)
    log, out = tmp_path / "calls.log", tmp_path / "out"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    finish(start_runner(spec, "changed", storage, out, log))

    more = finish(start_runner(spec, "changed", storage, out, log, "--trials", "6"))  # budget may grow
    assert more["n_trials"] == 6

    doc = yaml.safe_load(spec.read_text())
    doc["replicates"] = 3
    doc["parameters"]["x"]["high"] = 9.0
    spec.write_text(yaml.safe_dump(doc))
    simulated = len(calls(log))
    refused = start_runner(spec, "changed", storage, out, log, "--trials", "8")
    _, stderr = refused.communicate(timeout=120)
    assert refused.returncode == 2
    assert "different run document" in stderr and "parameters.x.high, replicates" in stderr and "--force" in stderr
    assert len(calls(log)) == simulated and "Traceback" not in stderr

    forced = finish(start_runner(spec, "changed", storage, out, log, "--trials", "8", "--force"))
    assert forced["status"] == "completed" and forced["n_trials"] == 8
