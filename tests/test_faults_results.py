"""Fault suite: results that cannot be written are found before any work, written as the run goes,
and kept in a local fallback folder when the store goes down before the end."""

import contextlib
import json

import polars as pl

from modelops.spec import parse_spec, preflight
from modelops.storage.blob_results import CONNECTION_STRING_ENV
from modelops.storage.local_results import LocalResults
from runner import results_writer
from runner.calibrate import calibrate
from runner.results import trials_frame
from runner.results_writer import FALLBACK_ENV, ResultsWriter
from runner.trials import TrialRecord
from tests.documents import quadratic_doc, write_curve
from tests.runner_processes import calls, start_runner, wait_until, write_run
from tests.services import run_azurite


def test_results_under_a_regular_file_stop_the_run_before_any_simulation(tmp_path):
    spec = write_run(tmp_path, trials=10)
    (tmp_path / "a-file").write_text("not a folder")
    log = tmp_path / "calls.log"
    runner = start_runner(spec, "nowhere", "memory", tmp_path / "a-file" / "out", log)
    stdout, stderr = runner.communicate(timeout=120)
    assert runner.returncode == 2, stderr[-3000:]
    assert "--results / MODELOPS_RESULTS_URL" in stderr and "a-file" in stderr
    assert "Traceback" not in stderr
    assert calls(log) == []  # found before any simulation


def test_trials_parquet_is_written_while_the_run_goes(dask_client, tmp_path):
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc(budget={"trials": 12}))
    out = tmp_path / "out"
    seen = []

    def look(record, counts):
        if counts.done == 1:  # the run waits here: a file that appears now was written mid-run, in the background
            wait_until(lambda: (out / "trials.parquet").exists(), 30, 0.01, what="trials.parquet after the first trial")
        if (out / "trials.parquet").exists():
            seen.append(pl.read_parquet(out / "trials.parquet").height)

    summary = calibrate(spec, preflight(spec, tmp_path), dask_client, run_id="live", results_url=str(out), on_trial=look)
    assert summary["status"] == "completed"
    assert seen and seen[0] >= 1 and min(seen) < 12  # there from the first trial on, before the end


def test_each_snapshot_frames_only_the_trials_finished_since_and_writes_them_all_in_lease_order(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(results_writer, "RESULTS_EVERY_TRIALS", 1)
    framed, frame = [], results_writer.trials_frame
    counted = lambda records, *names: framed.append(len(records)) or frame(records, *names)  # noqa: E731
    monkeypatch.setattr(results_writer, "trials_frame", counted)
    records = []
    for number in range(6):
        record = TrialRecord(number, f"p{number}", {"x": number / 10}, (number,), 1.0)
        outcome = {"status": "completed", "loss": number, "target_losses": {"out": number}, "sim_seconds": 0.1}
        record.finish(outcome, 2.0)
        records.append(record)
    writer = ResultsWriter(LocalResults(tmp_path), "run", ["x"], ["out"], clock=lambda: 0.0)
    for shown in ([0, 1, 3], [0, 1, 3, 4], [0, 1, 2, 3, 4, 5]):  # 2 finished after 3 and 4
        current = [records[i] for i in shown]
        writer.progress(lambda: current)
        wait_until(lambda: writer.records == current, what="the finished trials written")
        assert pl.read_parquet(tmp_path / "trials.parquet").equals(trials_frame(current, ["x"], ["out"]))
    assert framed == [3, 1, 2]
    writer.final(records)


def test_a_results_store_down_at_the_end_leaves_the_results_in_a_local_fallback_folder(
    dask_client, tmp_path, monkeypatch
):
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc(budget={"trials": 16}))
    monkeypatch.setenv(FALLBACK_ENV, str(tmp_path / "fallback"))
    events = tmp_path / "events.jsonl"
    with contextlib.ExitStack() as stack:
        azurite = stack.enter_context(run_azurite(tmp_path))
        monkeypatch.setenv(CONNECTION_STRING_ENV, azurite.connection_string)

        def stop_azurite(record, counts):
            if counts.done == 8:
                stack.close()  # the store goes away mid-run and stays away

        summary = calibrate(
            spec, preflight(spec, tmp_path), dask_client, run_id="store-down",
            results_url=f"{azurite.blob_endpoint}/results/runs/store-down", events=[str(events)], on_trial=stop_azurite,
        )  # fmt: skip
    folder = tmp_path / "fallback" / "store-down"
    assert summary["status"] == "failed" and summary["n_trials"] == 16
    assert summary["results"] == summary["results_fallback"] == str(folder)
    assert str(folder) in summary["error"] and "results store" in summary["error"]
    trials = pl.read_parquet(folder / "trials.parquet")
    assert trials.height == 16 and trials["param_id"].n_unique() == 16
    assert json.loads((folder / "summary.json").read_text())["status"] == "failed"
    sent = [json.loads(line) for line in events.read_text().splitlines()]
    assert sent[-1]["type"] == "modelops.run.failed" and str(folder) in sent[-1]["data"]["reason"]
