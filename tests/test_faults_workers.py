"""Fault suite: Dask workers die under a running calibration, and no trial is lost.

The workers are the product's local cluster (`mops run --local`), whose nannies
restart them however often they die and however slowly they come back.
"""

import contextlib
import os
import signal

import dask
import polars as pl
import pytest
from distributed import LocalCluster

from modelops.spec import parse_spec, preflight
from runner.calibrate import calibrate
from runner.cluster import local_client
from runner.engine import MAX_TASK_ATTEMPTS
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


def test_a_frozen_worker_the_scheduler_removes_loses_no_trial(tmp_path, monkeypatch):
    """Calls to a SIGSTOPped worker never return by themselves: once the scheduler drops it, they run elsewhere."""
    monkeypatch.setenv("MODELOPS_TEST_CALLS", str(tmp_path / "calls.log"))
    monkeypatch.setenv("MODELOPS_TEST_SLEEP", "0.05")
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc(model={"entrypoint": "tests.models:logged_quadratic"}, budget={"trials": 12}))
    frozen: list[int] = []
    # The scheduler removes a worker silent this long (its floor is 10 heartbeats, 5 s on a small cluster).
    with dask.config.set({"distributed.scheduler.worker-ttl": "5s"}), local_client(2) as client:

        def freeze_a_worker(record, counts):
            if counts.done == 3 and not frozen:
                frozen.append(min(worker_pids(client.cluster)))
                os.kill(frozen[0], signal.SIGSTOP)

        try:
            summary = calibrate(
                spec, preflight(spec, tmp_path), client, run_id="frozen", results_url=str(tmp_path / "out"),
                on_trial=freeze_a_worker,
            )  # fmt: skip
            removed = frozen[0] not in worker_pids(client.cluster) or len(client.nthreads()) < 2
        finally:
            for pid in frozen:
                with contextlib.suppress(ProcessLookupError):  # the nanny may have replaced it
                    os.kill(pid, signal.SIGCONT)
    assert frozen and removed
    assert summary["status"] == "completed" and (summary["n_trials"], summary["n_failed"]) == (12, 0)
    trials = pl.read_parquet(tmp_path / "out" / "trials.parquet")
    assert trials.height == 12 and trials["param_id"].n_unique() == 12


def test_a_trial_that_kills_its_worker_every_time_fails_for_good_and_the_run_goes_on(tmp_path):
    write_curve(tmp_path)
    doc = quadratic_doc(
        model={"entrypoint": "tests.models:kills_its_worker_at_one"}, budget={"trials": 6},
        algorithm={"name": "examples.fake_adapter:FakeAdapter"},  # proposes x = 0, 1, 2, ...
    )  # fmt: skip
    spec = parse_spec(doc)
    with local_client(2) as client:
        summary = calibrate(spec, preflight(spec, tmp_path), client, run_id="poison", results_url=str(tmp_path / "out"))
    trials = pl.read_parquet(tmp_path / "out" / "trials.parquet")
    assert summary["n_trials"] == trials.height == 6 and summary["n_failed"] == 1
    [failed] = trials.filter(pl.col("status") == "failed").iter_rows(named=True)
    assert failed["params_x"] == 1 and f"failed {MAX_TASK_ATTEMPTS} times" in failed["error_message"]
