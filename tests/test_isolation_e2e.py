"""A whole calibration (`mops run --local`, a real Dask cluster) with a model that
segfaults, aborts, exits, hangs and floods its output for part of the parameter
space: those trials fail naming what happened, the rest complete, the run exits 0,
and the model's output never reaches the runner's own log."""

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import yaml

from tests.documents import quadratic_doc, write_curve

ROOT = Path(__file__).resolve().parents[1]
FINE = ["fine-a", "fine-b", "fine-c"]
EXPECTED = {  # how -> (error type, words in its message)
    "segfault": ("SimulationCrashed", "crashed its process twice: killed by signal SIGSEGV (Segmentation fault)"),
    "abort": ("SimulationCrashed", "crashed its process twice: killed by signal SIGABRT (Aborted)"),
    "exit": ("SimulationCrashed", "crashed its process twice: exited with code 3"),
    "hang": ("SimulationTimeout", "timed out after 4 s"),
    "flood": ("RuntimeError", "flooded, then failed"),
}


def test_misbehaving_trials_fail_with_their_diagnosis_and_the_run_completes(tmp_path):
    write_curve(tmp_path)
    doc = quadratic_doc(
        model={"entrypoint": "tests.models:misbehaves", "timeout_seconds": 4},
        budget={"trials": 16},
        replicates=2,
        algorithm={"name": "optuna", "sampler": "random"},
        seed=3,
    )
    doc["parameters"]["how"] = {"choices": FINE + list(EXPECTED)}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(doc))
    command = [
        str(Path(sys.executable).with_name("mops")), "run", str(tmp_path / "run.yaml"), "--local", "--json",
        "--quiet", "--workers", "2", "--run-id", "misbehaving", "--results", str(tmp_path / "out"),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    trials = pl.read_parquet(tmp_path / "out" / "trials.parquet")
    assert summary["status"] == "completed" and summary["n_trials"] == trials.height == 16
    failed = trials.filter(pl.col("status") == "failed")
    assert summary["n_failed"] == failed.height > 0 and summary["n_completed"] == 16 - failed.height
    assert set(trials.filter(pl.col("status") == "completed")["params_how"]) <= set(FINE)
    assert set(failed["params_how"]) <= set(EXPECTED) and failed["params_how"].n_unique() >= 3
    for row in failed.iter_rows(named=True):
        kind, words = EXPECTED[row["params_how"]]
        assert row["error_type"] == kind and words in row["error_message"], row
        assert f"about to {row['params_how']}" in row["error_stderr"]
        if row["params_how"] == "flood":
            assert "flood line 49999 " in row["error_stdout"] and len(row["error_stdout"]) <= 4096
    runner_log = done.stdout + done.stderr
    assert "flood line" not in runner_log and "simulating x=" not in runner_log  # the model's output stays out
    assert len(runner_log) < 200_000
