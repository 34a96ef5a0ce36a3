"""The ask/tell loop on a real (in-process) Dask cluster."""

import json
import socket

import polars as pl
import pytest
from distributed import Client, LocalCluster

from modelops.seeds import replicate_seeds
from modelops.spec import parse_spec, preflight
from runner.calibrate import calibrate
from runner.algorithms import build_algorithm
from runner import dispatch
from runner import engine as engine_module
from runner import trial_pump
from runner.engine import CalibrationError, Engine
from runner.ledger import Ledger
from tests.documents import quadratic_doc, write_curve


def run(client, tmp_path, doc, **kwargs):
    write_curve(tmp_path)
    spec = parse_spec(doc)
    out = tmp_path / "out"
    summary = calibrate(spec, preflight(spec, tmp_path), client, run_id="r1", results_url=str(out), **kwargs)
    assert json.loads((out / "summary.json").read_text()) == summary
    return summary, pl.read_parquet(out / "trials.parquet")


def test_a_run_evaluates_the_budget_and_records_every_trial(dask_client, tmp_path):
    summary, trials = run(dask_client, tmp_path, quadratic_doc(budget={"trials": 30}, replicates=3))
    assert summary["status"] == "completed" and summary["stopped"] == "budget"
    assert (summary["n_trials"], summary["n_completed"], summary["n_failed"]) == (30, 30, 0)
    assert trials.height == 30 and trials["param_id"].n_unique() == 30
    assert {"params_x", "params_y", "loss", "loss_curve", "status", "replicate_seeds", "duration_s"} <= set(
        trials.columns
    )
    best = trials.sort("loss").row(0, named=True)
    value = (best["params_x"] - 3) ** 2 + best["params_y"]  # the model's value at every t; the data are 0
    assert summary["best_loss"] == best["loss"] == pytest.approx(value**2)
    assert summary["best_params"] == {"x": best["params_x"], "y": best["params_y"]}
    for row in trials.iter_rows(named=True):
        assert tuple(row["replicate_seeds"]) == replicate_seeds(row["param_id"], 3)
    assert len(summary["spec_sha256"]) == 64 and summary["algorithm"]["seed"] == 1


def test_a_failing_simulation_fails_its_trial_with_the_real_error_and_the_run_goes_on(dask_client, tmp_path):
    doc = quadratic_doc(model={"entrypoint": "tests.models:fails_above_five"}, budget={"trials": 20})
    summary, trials = run(dask_client, tmp_path, doc)
    failed = trials.filter(pl.col("status") == "failed")
    assert summary["status"] == "completed"
    assert summary["n_failed"] == failed.height > 0
    assert (failed["params_x"] > 5).all() and (trials.filter(pl.col("status") == "completed")["params_x"] <= 5).all()
    row = failed.row(0, named=True)
    assert row["error_type"] == "ValueError" and "out of the model's range" in row["error_message"]
    assert "fails_above_five" in row["error_traceback"] and row["loss"] is None


def test_a_run_where_every_trial_fails_stops_early_with_a_clear_error(dask_client, tmp_path):
    doc = quadratic_doc(model={"entrypoint": "tests.models:always_fails"}, budget={"trials": 200})
    summary, trials = run(dask_client, tmp_path, doc)
    assert summary["status"] == "failed"
    assert "trials failed" in summary["error"] and "ModuleNotFoundError" in summary["error"]
    assert "not_a_real_dependency" in summary["error"]
    assert 10 <= trials.height < 200  # stopped early; what ran is kept
    assert (trials["status"] == "failed").all()


def test_wrong_output_types_fail_the_trial_naming_the_output(dask_client, tmp_path):
    doc = quadratic_doc(model={"entrypoint": "tests.models:wrong_type"}, budget={"trials": 2})
    summary, trials = run(dask_client, tmp_path, doc)
    assert summary["status"] == "failed"
    assert trials["error_type"].to_list() == ["TypeError", "TypeError"]
    assert "output 'curve': expected polars.DataFrame" in trials["error_message"][0]


def test_stops_at_the_target_loss(dask_client, tmp_path):
    doc = quadratic_doc(budget={"trials": 400, "target_loss": 0.5})
    summary, trials = run(dask_client, tmp_path, doc)
    assert summary["stopped"] == "target_loss" and summary["best_loss"] <= 0.5
    assert trials.height < 400


def test_deterministic_mode_repeats_the_same_trials_and_best(dask_client, tmp_path):
    doc = quadratic_doc(budget={"trials": 24}, compute={"in_flight": 4})
    first, trials_a = run(dask_client, tmp_path / "a", doc, deterministic=True)
    second, trials_b = run(dask_client, tmp_path / "b", doc, deterministic=True)
    columns = ["number", "param_id", "params_x", "params_y", "loss"]
    assert trials_a.select(columns).equals(trials_b.select(columns))
    assert first["best_params"] == second["best_params"] and first["best_loss"] == second["best_loss"]
    assert first["mode"] == "deterministic"


def test_grouping_replicates_into_tasks_does_not_change_the_losses(dask_client, tmp_path):
    base = dict(budget={"trials": 6}, replicates=4, algorithm={"sampler": "random"})
    _, fused = run(dask_client, tmp_path / "fused", quadratic_doc(**base, compute={"replicates_per_task": 4}))
    _, split = run(dask_client, tmp_path / "split", quadratic_doc(**base, compute={"replicates_per_task": 1}))
    assert fused.select("param_id", "loss").sort("param_id").equals(split.select("param_id", "loss").sort("param_id"))


def test_busy_mode_does_not_wait_for_the_slowest_trial(dask_client, tmp_path):
    doc = quadratic_doc(
        model={"entrypoint": "tests.models:slow_at_one"},
        budget={"trials": 12},
        algorithm={"name": "examples.fake_adapter:FakeAdapter"},  # proposes x = 0, 1, 2, ...
    )
    _, trials = run(dask_client, tmp_path, doc)
    slow = trials.filter(pl.col("params_x") == 1).row(0, named=True)
    overtaking = trials.filter(
        (pl.col("submitted_at") > slow["submitted_at"]) & (pl.col("finished_at") < slow["finished_at"])
    )
    assert overtaking.height > 0  # trials asked after the slow one finished before it


def test_trials_in_flight_never_exceed_the_setting(dask_client, tmp_path):
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc(budget={"trials": 12}, compute={"in_flight": 3}))
    algorithm = build_algorithm(spec, seed=1, study_name="busy")
    ledger = Ledger.open("memory", "busy", "runner-0", spec.budget.trials)
    engine = Engine(dask_client, spec, preflight(spec, tmp_path), algorithm, ledger)
    running = []
    engine.on_trial = lambda record, counts: running.append(sum(r.status == "running" for r in engine.evaluated))
    counts = engine.run()
    assert engine.in_flight == 3 and max(running) <= 2 and counts.done == len(engine.evaluated) == 12


def test_a_worker_that_joins_a_running_run_gets_trials_in_flight(tmp_path, monkeypatch):
    monkeypatch.setattr(dispatch, "SURVEY_SECONDS", 0.01)  # count the workers at once, not every second
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc(budget={"trials": 12}))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            ledger = Ledger.open("memory", "joined", "runner-0", spec.budget.trials)
            algorithm = build_algorithm(spec, seed=1, study_name="j")
            engine = Engine(client, spec, preflight(spec, tmp_path), algorithm, ledger)
            seen = []

            def on_trial(record, counts):
                if counts.done == 3:
                    cluster.scale(2)
                    client.wait_for_workers(2)
                seen.append((counts.done, engine.threads))

            engine.on_trial = on_trial
            assert engine.run().done == 12
    assert seen[0][1] == 1 and seen[-1][1] == 2


START_PUMP = trial_pump.start


def unreachable_pump(*args, dask_worker):
    """`trial_pump.start`, but it says the pump is on a port where nothing listens (as a network policy would)."""
    host, _, token = START_PUMP(*args, dask_worker=dask_worker)
    with socket.create_server((host, 0)) as closed:
        return host, closed.getsockname()[1], token


def test_a_run_whose_workers_it_cannot_reach_ends_with_a_clear_error_and_one_warning(tmp_path, monkeypatch, caplog):
    """The scheduler reaches the workers, the runner does not (say a network policy): no stall, no flood."""
    monkeypatch.setattr(dispatch, "SURVEY_SECONDS", 0.05)
    monkeypatch.setattr(engine_module, "WORKER_WAIT_SECONDS", 1.0)
    monkeypatch.setattr(trial_pump, "ACCEPT_SECONDS", 0.1)  # the pumps no runner reaches stop listening soon
    monkeypatch.setattr(trial_pump, "start", unreachable_pump)
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc(budget={"trials": 6}))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            ledger = Ledger.open("memory", "unreachable", "runner-0", spec.budget.trials)
            engine = Engine(client, spec, preflight(spec, tmp_path), build_algorithm(spec, seed=1, study_name="u"), ledger)
            with caplog.at_level("WARNING", logger="runner.dispatch"), pytest.raises(CalibrationError) as error:
                engine.run()
    assert "cannot reach them" in str(error.value) and "the cluster has 1" in str(error.value)
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "cannot reach Dask worker" in r.getMessage()]
    assert len(warnings) == 1 and ledger.counts().done == 0


def test_packing_cheap_trials_does_not_multiply_the_trials_in_flight(dask_client, tmp_path):
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc(budget={"trials": 40}))
    ledger = Ledger.open("memory", "packed", "runner-0", spec.budget.trials)
    engine = Engine(dask_client, spec, preflight(spec, tmp_path), build_algorithm(spec, seed=1, study_name="p"), ledger)
    assert engine.in_flight == 2 * engine.threads  # cost unknown: one trial per task, and one more
    engine._trial_seconds = 0.001  # measured cheap: 8 trials to a task
    assert engine._trials_per_task() == 8 and engine.in_flight == engine.threads * 9  # not two tasks' worth (16)
    ledger.close()


def test_class_entrypoints_run_their_scenario(dask_client, tmp_path):
    doc = quadratic_doc(model={"entrypoint": "tests.models.Seasonal/summer"}, budget={"trials": 40})
    doc["parameters"] = {"x": {"low": 0.0, "high": 10.0}}
    summary, _ = run(dask_client, tmp_path, doc)
    assert summary["best_params"]["x"] == pytest.approx(2.0, abs=0.5)  # summer shifts x by +1


def test_the_fake_adapter_runs_its_grid(dask_client, tmp_path):
    doc = quadratic_doc(algorithm={"name": "examples.fake_adapter:FakeAdapter"}, budget={"trials": 8})
    summary, trials = run(dask_client, tmp_path, doc)
    assert summary["n_trials"] == 8
    assert sorted(trials["params_x"].to_list()) == [float(i) for i in range(8)]
    assert summary["best_loss"] == 16.0  # x=2,y=3 and x=3,y=4 tie; whichever finished first is kept
    assert summary["best_params"] in ({"x": 2.0, "y": 3.0}, {"x": 3.0, "y": 4.0})
