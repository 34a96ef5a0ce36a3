"""abc-smc against a known posterior: Poisson counts with a uniform prior (a truncated Gamma posterior)."""

import collections
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from modelops.spec import SpecError, load_spec, parse_spec, preflight
from modelops_contracts import AdaptiveAlgorithm, TrialResult
from runner.algorithms import build_algorithm
from runner.algorithms.abc_smc import AbcSmc, weighted_quantiles
from runner.calibrate import calibrate
from runner.ledger import Ledger
from runner.trials import TrialRecord
from tests.documents import quadratic_doc
from tests.models import POISSON_COUNTS
from tests.runner_processes import finish, kill_group, start_runner, wait_until

LOW, HIGH = 0.5, 15.0


def abc_doc(**options) -> dict:
    return quadratic_doc(
        model={"entrypoint": "tests.models:poisson_counts"},
        parameters={"lam": {"low": LOW, "high": HIGH}},
        targets={"counts": {"data": "counts.csv", "keys": ["i"], "value": "count", "loss": "tests.models:mean_gap"}},
        algorithm={"name": "abc-smc", "options": {"particles": 150, "generations": 7} | options},
        budget={"trials": 6000},
        replicates=1,
    )


def exact_posterior(total: int) -> tuple[float, float]:
    """Mean and sd of lam^total e^(-n lam) on [LOW, HIGH], on a fine grid."""
    grid = np.linspace(LOW, HIGH, 200_001)
    log_density = total * np.log(grid) - POISSON_COUNTS * grid
    density = np.exp(log_density - log_density.max())
    density /= density.sum()
    mean = float((grid * density).sum())
    return mean, float(np.sqrt(((grid - mean) ** 2 * density).sum()))


def run_in_process(observed: np.ndarray, seed: int, **options) -> AbcSmc:
    """The algorithm driven directly: ask a few, simulate in this process, tell in arrival order."""
    algorithm = build_algorithm(parse_spec(abc_doc(**options)), seed=seed, study_name="abc")
    rng = np.random.default_rng(seed + 1000)
    while not algorithm.finished():
        asked = algorithm.ask(8)
        results = [
            TrialResult(p.param_id, abs(rng.poisson(p.params["lam"], POISSON_COUNTS).mean() - observed.mean()))
            for p in asked
        ]
        algorithm.tell(results[::-1])
    return algorithm


def test_abc_smc_is_an_adaptive_algorithm_with_validated_options():
    assert isinstance(build_algorithm(parse_spec(abc_doc()), seed=1, study_name="abc"), AdaptiveAlgorithm)
    with pytest.raises(SpecError, match="quantile: Input should be less than 1 .abc-smc takes: particles"):
        parse_spec(abc_doc(quantile=1.5))
    doc = abc_doc()
    doc["parameters"]["k"] = {"type": "int", "low": 1, "high": 3}
    with pytest.raises(SpecError, match=r"abc-smc samples float parameters only, not \['k'\]"):
        parse_spec(doc)


def test_the_posterior_matches_the_exact_one_with_shrinking_tolerances_and_weighted_particles():
    observed = np.random.default_rng(7).poisson(4.0, POISSON_COUNTS)
    algorithm = run_in_process(observed, seed=3)
    summary = algorithm.summary()
    mean, sd = exact_posterior(int(observed.sum()))
    lam = summary["parameters"]["lam"]
    assert abs(lam["mean"] - mean) < 0.15 * sd, (lam, mean, sd)
    assert 0.8 * sd < lam["sd"] < 1.25 * sd, (lam, sd)
    assert lam["q05"] < lam["q50"] < lam["q95"]
    epsilons = [g.epsilon for g in algorithm.complete]
    assert epsilons[0] == np.inf and all(a > b for a, b in zip(epsilons[1:], epsilons[2:]))
    assert summary["generations"] >= 5 and 10 < summary["ess"] <= 150
    last = algorithm.posterior()
    assert set(last["generation"]) == {len(algorithm.complete) - 1}
    assert last.height == 150 and last["weight"].sum() == pytest.approx(1.0)
    assert (last["distance"] <= last["epsilon"]).all()
    schedule = summary["schedule"]
    assert schedule[0]["epsilon"] is None  # generation 0 accepts every prior draw
    assert [g["epsilon"] for g in schedule[1 : len(epsilons)]] == epsilons[1:]
    assert all(g["accepted"] == 150 for g in schedule[: len(epsilons)])


def test_90_percent_intervals_cover_the_truth_in_at_least_80_percent_of_20_datasets():
    rng = np.random.default_rng(11)
    covered = 0
    for dataset in range(20):
        truth = rng.uniform(1.0, 10.0)  # drawn from (within) the prior
        observed = rng.poisson(truth, POISSON_COUNTS)
        lam = run_in_process(observed, seed=dataset, particles=100, generations=6).summary()["parameters"]["lam"]
        covered += lam["q05"] <= truth <= lam["q95"]
    assert covered >= 16, covered


def test_a_rebuilt_algorithm_is_in_the_state_the_lost_one_was():
    """Replaying the finished trials' lease and finish times reproduces every generation."""
    observed = np.random.default_rng(7).poisson(4.0, POISSON_COUNTS)
    spec = parse_spec(abc_doc(particles=30, generations=4))
    algorithm = build_algorithm(spec, seed=5, study_name="abc")
    rng, clock, records, number = np.random.default_rng(0), iter(range(1, 10**6)), [], 0
    pending: list[TrialRecord] = []
    while len(records) < 250 and not algorithm.finished():
        for pset in algorithm.ask(6 - len(pending)):
            pending.append(TrialRecord(number, pset.param_id, dict(pset.params), (), next(clock)))
            number += 1
        done, pending = pending[:3], pending[3:]  # the oldest half finishes, the rest stays in flight
        now = next(clock)
        for record in done:
            distance = abs(rng.poisson(record.params["lam"], POISSON_COUNTS).mean() - observed.mean())
            record.finish({"status": "completed", "loss": distance, "sim_seconds": 0.0}, now)
        algorithm.tell([r.to_result() for r in done])
        records += done
    rebuilt = AbcSmc(spec.parameters, spec.algorithm.sampler_options(), spec.budget.trials, 99, records)
    assert len(rebuilt.generations) == len(algorithm.generations) >= 3
    for ours, theirs in zip(rebuilt.generations, algorithm.generations):
        assert ours.param_ids == theirs.param_ids and ours.epsilon == theirs.epsilon
        np.testing.assert_allclose(ours.log_weights, theirs.log_weights)


def test_weighted_quantiles_of_equal_weights_are_the_samples_quantiles():
    values = np.arange(1.0, 101.0)
    q05, q50, q95 = weighted_quantiles(values, np.ones(100), (0.05, 0.5, 0.95))
    assert (q05, q50, q95) == pytest.approx((5.5, 50.5, 95.5))


def write_abc_run(folder: Path, observed: np.ndarray, **options) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"i": np.arange(POISSON_COUNTS), "count": observed}).write_csv(folder / "counts.csv")
    doc = abc_doc(**options)
    doc["budget"] = {"trials": 2000}
    (folder / "run.yaml").write_text(yaml.safe_dump(doc))
    return folder / "run.yaml"


def test_abc_smc_runs_through_the_runner_and_writes_its_posterior(dask_client, tmp_path):
    observed = np.random.default_rng(7).poisson(4.0, POISSON_COUNTS)
    spec = load_spec(write_abc_run(tmp_path, observed, particles=40, generations=4))
    summary = calibrate(spec, preflight(spec, tmp_path), dask_client, run_id="abc", results_url=str(tmp_path / "out"))
    assert summary["status"] == "completed" and "confirm" not in summary
    last = pl.read_parquet(tmp_path / "out" / "posterior.parquet")
    assert set(last["generation"]) == {3}
    assert last.height == 40 and last["weight"].sum() == pytest.approx(1.0)
    trials = pl.read_parquet(tmp_path / "out" / "trials.parquet")
    joined = last.join(trials.select("param_id", "loss"), on="param_id")
    assert joined.height == 40 and (joined["distance"] == joined["loss"]).all()  # particles are trials of the run
    lam = summary["posterior"]["parameters"]["lam"]
    mean, sd = exact_posterior(int(observed.sum()))
    assert summary["posterior"]["generations"] == 4 and summary["stopped"] == "generations"
    assert abs(lam["mean"] - mean) < sd
    assert lam["q05"] < mean < lam["q95"]


def test_abc_smc_killed_mid_run_resumes_from_its_rebuilt_population(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_TEST_SLEEP", "0.01")
    observed = np.random.default_rng(7).poisson(4.0, POISSON_COUNTS)
    spec = write_abc_run(tmp_path / "doc", observed, particles=30, generations=4)  # its bundle: that folder only
    storage, log = f"sqlite:///{tmp_path / 'study.db'}", tmp_path / "calls.log"

    def simulated() -> list[tuple[float, int]]:
        lines = log.read_text().split() if log.exists() else []
        return [(float(lam), int(seed)) for lam, seed in (line.split(",") for line in lines)]

    first = start_runner(spec, "abc-crash", storage, tmp_path / "out", log, "--no-report")
    # generation 0 (30 particles) done, generation 1 under way
    wait_until(lambda: len(simulated()) >= 70, what="70 simulations")
    kill_group(first)
    ledger = Ledger.open(storage, "abc-crash", "observer", 2000)
    try:
        before = ledger.records()
    finally:
        ledger.close()
    assert 30 <= len(before) < 2000

    summary = finish(start_runner(spec, "abc-crash", storage, tmp_path / "out", log, "--no-report"))
    assert summary["status"] == "completed" and summary["posterior"]["generations"] == 4
    posterior = pl.read_parquet(tmp_path / "out" / "posterior.parquet")
    assert set(posterior["generation"]) == {3} and posterior.height == 30
    used = sum(g["proposed"] for g in summary["posterior"]["schedule"])
    assert used > summary["evaluated_here"]  # the first life's trials are part of the populations: rebuilt, not resampled
    trials = pl.read_parquet(tmp_path / "out" / "trials.parquet")
    assert trials["param_id"].n_unique() == trials.height == summary["n_trials"]
    seeds = collections.Counter(seed for _, seed in simulated())
    for record in before:
        assert seeds[record.seeds[0]] == 1, "a trial finished before the kill was simulated again"
