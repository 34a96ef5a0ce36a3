"""Fault suite: Dask workers die under a running calibration, and no trial is lost.

The workers are the product's local cluster (`mops run --local`), whose nannies
restart them however often they die and however slowly they come back.
"""

import os
import signal

import polars as pl
import pytest
from distributed import LocalCluster

from modelops.spec import parse_spec, preflight
from runner.calibrate import calibrate
from runner.cluster import local_client
from tests.documents import quadratic_doc, write_curve
from tests.runner_processes import wait_until


def worker_pids(cluster: LocalCluster) -> set[int]:
    return {nanny.process.pid for nanny in cluster.workers.values() if nanny.process and nanny.process.pid}


@pytest.mark.parametrize("workers", [1, 2])
def test_all_workers_killed_twice_mid_run_the_run_completes_its_budget(tmp_path, monkeypatch, workers):
    monkeypatch.setenv("MODELOPS_TEST_CALLS", str(tmp_path / "calls.log"))
    monkeypatch.setenv("MODELOPS_TEST_SLEEP", "0.05")
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc(model={"entrypoint": "tests.models:logged_quadratic"}, budget={"trials": 30}))
    with local_client(workers) as client:
        cluster = client.cluster
        kills: list[set[int]] = []

        def kill_every_worker(record, counts):
            if counts.done in (5, 15) and len(kills) < 2:
                wait_until(lambda: len(worker_pids(cluster)) == workers and not (kills and worker_pids(cluster) & kills[-1]),
                           what=f"{workers} restarted worker process(es)")
                pids = worker_pids(cluster)
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)  # the worker processes; their nannies start new ones
                kills.append(pids)

        summary = calibrate(
            spec, preflight(spec, tmp_path), client, run_id="all-lost", results_url=str(tmp_path / "out"),
            on_trial=kill_every_worker,
        )  # fmt: skip
    assert len(kills) == 2
    assert summary["status"] == "completed"
    assert (summary["n_trials"], summary["n_failed"]) == (30, 0)
    trials = pl.read_parquet(tmp_path / "out" / "trials.parquet")
    assert trials.height == 30 and trials["param_id"].n_unique() == 30
    assert (trials["status"] == "completed").all()
