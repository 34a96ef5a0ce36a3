"""Fault suite: SIGINT (Ctrl-C) and SIGTERM (a pod's eviction) stop a run cleanly, and it resumes."""

import json
import os
import signal
import subprocess
import sys

import polars as pl

from tests.runner_processes import ROOT, calls, finish, start_runner, wait_until, write_run


def events_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_ctrl_c_mid_run_keeps_every_finished_trial_and_the_same_command_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_TEST_SLEEP", "0.1")
    spec = write_run(tmp_path, trials=40)
    log, out, sink = tmp_path / "calls.log", tmp_path / "out", tmp_path / "events.jsonl"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    command = (spec, "ctrl-c", storage, out, log, "--events", str(sink))
    runner = start_runner(*command)
    wait_until(lambda: len(calls(log)) >= 10, what="10 simulations by the runner")
    os.killpg(runner.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole process group
    stdout, stderr = runner.communicate(timeout=120)

    assert runner.returncode == 130, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGINT"
    assert 0 < summary["n_trials"] < 40
    assert "calibration interrupted (SIGINT)" in stderr and "Traceback" not in stderr
    trials = pl.read_parquet(out / "trials.parquet")
    assert trials.height == summary["n_trials"] == trials["param_id"].n_unique()
    assert json.loads((out / "summary.json").read_text())["status"] == "interrupted"
    failed = [e for e in events_of(sink) if e["type"] == "modelops.run.failed"]
    assert len(failed) == 1 and failed[0]["data"]["reason"].startswith("interrupted")

    resumed = finish(start_runner(*command))
    assert resumed["status"] == "completed" and resumed["n_trials"] == 40
    trials = pl.read_parquet(out / "trials.parquet")
    assert trials.height == 40 and trials["param_id"].n_unique() == 40


def test_sigterm_stops_the_in_cluster_runner_with_143_and_its_results(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_TEST_SLEEP", "0.1")
    spec = write_run(tmp_path, trials=200, compute={"workers": 1})
    log, out, sink = tmp_path / "calls.log", tmp_path / "out", tmp_path / "events.jsonl"
    env = os.environ | {
        "PYTHONPATH": str(ROOT), "MODELOPS_TEST_CALLS": str(log), "MODELOPS_RUN_ID": "evicted",
        "MODELOPS_RUN_SPEC": str(spec), "MODELOPS_RESULTS_URL": str(out), "MODELOPS_EVENTS_URL": str(sink),
    }  # fmt: skip
    runner = subprocess.Popen(
        [sys.executable, "-m", "runner"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_until(lambda: len(calls(log)) >= 10, what="10 simulations by the runner")
    runner.send_signal(signal.SIGTERM)  # the kubelet signals the container's main process
    stdout, stderr = runner.communicate(timeout=120)

    assert runner.returncode == 143, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM"
    assert "Traceback" not in stderr
    trials = pl.read_parquet(out / "trials.parquet")
    assert trials.height == summary["n_trials"] > 0 and trials["param_id"].n_unique() == trials.height
    assert [e["type"] for e in events_of(sink)][-1] == "modelops.run.failed"
