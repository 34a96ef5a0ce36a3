"""A Dask worker process dying mid-trial loses no trial, and its nanny brings it back however slowly it starts.

The cluster is the product's local one (`mops run --local`).
"""

import os
import signal
import time

import dask
from dask.utils import parse_timedelta

from modelops.spec import parse_spec, preflight
from runner.calibrate import calibrate
from runner.cluster import local_client
from tests.documents import quadratic_doc, write_curve
from tests.runner_processes import wait_until


def test_killing_a_worker_mid_run_loses_no_trial_and_a_slow_restart_comes_back(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_TEST_CALLS", str(tmp_path / "calls.log"))
    monkeypatch.setenv("MODELOPS_TEST_SLEEP", "0.05")
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc(model={"entrypoint": "tests.models:logged_quadratic"}, budget={"trials": 24}))
    # distributed closes a nanny whose worker is still away this long after it was lost (a busy machine's restart).
    lost_worker_timeout = parse_timedelta(dask.config.get("distributed.deploy.lost-worker-timeout"))
    with local_client(2) as client:
        cluster = client.cluster
        nanny = next(iter(cluster.workers.values()))
        killed: list[int] = []
        stopped: list[int] = []  # its replacement, held before it registers
        lost_at: list[float] = []

        def kill_a_worker(record, counts):
            if counts.done == 5 and not killed:
                killed.append(nanny.process.pid)
                os.kill(killed[0], signal.SIGKILL)  # the worker, not its nanny: it is restarted
                lost_at.append(time.monotonic())
                wait_until(lambda: nanny.process is not None and nanny.process.pid not in (None, killed[0]), 60, 0.005,
                           what="the killed worker's replacement process")
                stopped.append(nanny.process.pid)
                os.kill(stopped[0], signal.SIGSTOP)

        try:
            summary = calibrate(
                spec, preflight(spec, tmp_path), client, run_id="loss", results_url=str(tmp_path / "out"),
                on_trial=kill_a_worker,
            )  # fmt: skip
            assert stopped, "no worker was killed"
            time.sleep(max(0.0, lost_at[0] + lost_worker_timeout + 1 - time.monotonic()))  # the slow restart itself
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
        client.wait_for_workers(2, timeout=120)
        assert nanny.process.pid == stopped[0] and nanny.status.name == "running"
    assert summary["status"] == "completed"
    assert (summary["n_trials"], summary["n_failed"]) == (24, 0)
