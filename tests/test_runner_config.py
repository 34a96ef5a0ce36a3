import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from runner.config import RunnerConfig

ROOT = Path(__file__).resolve().parents[1]
BASE = {"MODELOPS_RUN_ID": "r1", "MODELOPS_RUN_SPEC": "/specs/run.yaml", "MODELOPS_RESULTS_URL": "/results/r1"}


def test_defaults_are_a_memory_study_a_local_cluster_and_the_host_name():
    config = RunnerConfig.from_env(BASE)
    assert (config.run_id, config.spec_path, config.results_url) == ("r1", "/specs/run.yaml", "/results/r1")
    assert config.storage_url == "memory" and config.scheduler_address is None
    assert config.events == () and config.runner_id and not config.deterministic


def test_every_setting_is_read():
    config = RunnerConfig.from_env(
        BASE
        | {
            "DASK_SCHEDULER_ADDRESS": "tcp://dask-scheduler.ws:8786",
            "MODELOPS_STORAGE_URL": "sqlite:///study.db",
            "MODELOPS_EVENTS_URL": "events.jsonl, http://localhost:7071/runtime/webhooks/eventgrid",
            "MODELOPS_RUNNER_ID": "runner-0",
            "MODELOPS_DETERMINISTIC": "1",
        }
    )
    assert config.scheduler_address == "tcp://dask-scheduler.ws:8786"
    assert config.storage_url == "sqlite:///study.db"
    assert config.events == ("events.jsonl", "http://localhost:7071/runtime/webhooks/eventgrid")
    assert config.runner_id == "runner-0" and config.deterministic


def test_a_postgresql_secret_as_pg_variables_becomes_the_storage_url_and_stays_out_of_repr():
    env = BASE | {"PGHOST": "pg.run-1", "PGUSER": "modelops", "PGPASSWORD": "p@ss/word", "PGDATABASE": "optuna"}
    config = RunnerConfig.from_env(env)
    assert config.storage_url == "postgresql://modelops:p%40ss%2Fword@pg.run-1:5432/optuna"
    assert "p@ss" not in repr(config) and "word" not in repr(config)


def test_missing_variables_are_named():
    with pytest.raises(ValueError, match="MODELOPS_RUN_SPEC, MODELOPS_RESULTS_URL"):
        RunnerConfig.from_env({"MODELOPS_RUN_ID": "r1"})


def test_python_m_runner_calibrates_from_the_environment(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "MODELOPS_RUN_ID": "toy-env",
        "MODELOPS_RUN_SPEC": str(ROOT / "examples/toy/run.yaml"),
        "MODELOPS_RESULTS_URL": str(tmp_path / "results"),
        "MODELOPS_STORAGE_URL": f"sqlite:///{tmp_path / 'study.db'}",
        "MODELOPS_EVENTS_URL": str(tmp_path / "events.jsonl"),
        "MODELOPS_RUNNER_ID": "runner-0",
    }
    result = subprocess.run(
        [sys.executable, "-m", "runner"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["run_id"] == "toy-env" and summary["runner_id"] == "runner-0" and summary["n_trials"] == 20
    trials = pl.read_parquet(tmp_path / "results" / "trials.parquet")
    assert trials.filter(pl.col("phase") == "search").height == 20  # and the confirmation's re-scorings beside
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    kinds = [(e["type"], e["data"].get("trial", {}).get("phase")) for e in events]
    searched = [("modelops.trial.completed", None)] * 20
    confirmed = [("modelops.trial.completed", "confirm")] * 40 + [("modelops.trial.completed", "holdout")] * 4
    assert kinds == [("modelops.run.started", None), *searched, *confirmed, ("modelops.run.completed", None)]


def test_python_m_runner_rejects_bad_configuration_with_exit_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "runner"], cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert result.returncode == 2 and "MODELOPS_RUN_ID" in result.stderr
