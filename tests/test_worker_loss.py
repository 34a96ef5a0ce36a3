"""A Dask worker process dying mid-trial loses no trial: its tasks run again elsewhere."""

import os
import signal

from distributed import Client, LocalCluster

from modelops.spec import parse_spec, preflight
from runner.calibrate import calibrate
from tests.documents import quadratic_doc, write_curve


def test_killing_a_worker_mid_run_loses_no_trial(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_TEST_CALLS", str(tmp_path / "calls.log"))
    monkeypatch.setenv("MODELOPS_TEST_SLEEP", "0.05")
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc(model={"entrypoint": "tests.models:logged_quadratic"}, budget={"trials": 24}))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            killed = []

            def kill_a_worker(record, counts):
                if counts.done == 5 and not killed:
                    nanny = next(iter(cluster.workers.values()))
                    os.kill(nanny.process.pid, signal.SIGKILL)  # the worker, not its nanny: it is restarted
                    killed.append(nanny.process.pid)

            summary = calibrate(
                spec,
                preflight(spec, tmp_path),
                client,
                run_id="loss",
                results_url=str(tmp_path / "out"),
                on_trial=kill_a_worker,
            )
    assert killed
    assert summary["status"] == "completed"
    assert (summary["n_trials"], summary["n_failed"]) == (24, 0)
