"""Likelihood targets: densities checked against scipy.stats, log-mean-exp over replicates, the document's rules."""

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from modelops.likelihoods import log_density, negative_log_likelihood
from modelops.scoring import score
from modelops.spec import SpecError, parse_spec, preflight
from tests.documents import quadratic_doc, write_curve

RNG = np.random.default_rng(3)
Y = np.array([0.0, 3.0, 7.0, 12.0])
SIZE = np.array([10.0, 10.0, 20.0, 30.0])


def reference(likelihood: str, y, x, theta):
    """The same density from scipy.stats (negative binomial as scipy's (n, p) with p = k / (k + mu))."""
    if likelihood == "poisson":
        return stats.poisson.logpmf(y, x)
    if likelihood == "negative_binomial":
        return stats.nbinom.logpmf(y, theta, theta / (theta + x))
    if likelihood == "binomial":
        return stats.binom.logpmf(y, SIZE, x)
    if likelihood == "beta_binomial":
        return stats.betabinom.logpmf(y, SIZE, x * theta, (1 - x) * theta)
    return stats.norm.logpdf(y, x, theta)


@pytest.mark.parametrize(
    ("likelihood", "simulated", "theta"),
    [
        ("poisson", RNG.uniform(0.5, 15, (3, 4)), None),
        ("negative_binomial", RNG.uniform(0.5, 15, (3, 4)), 2.5),
        ("binomial", RNG.uniform(0.05, 0.95, (3, 4)), None),
        ("beta_binomial", RNG.uniform(0.05, 0.95, (3, 4)), 7.0),
        ("normal", RNG.uniform(0, 15, (3, 4)), 1.7),
    ],
)
def test_each_density_equals_scipy_stats(likelihood, simulated, theta):
    extra = {"poisson": {}, "negative_binomial": {"dispersion": theta}, "binomial": {"size": SIZE},
             "beta_binomial": {"size": SIZE, "dispersion": theta}, "normal": {"sd": theta}}[likelihood]  # fmt: skip
    ours = log_density(likelihood, Y, simulated, **extra)
    assert ours.shape == (3, 4)
    np.testing.assert_allclose(ours, reference(likelihood, Y, simulated, theta), rtol=1e-10, atol=1e-10)


def aligned(simulated: np.ndarray, observed, size=None) -> pl.DataFrame:
    replicates, rows = simulated.shape
    frame = pl.DataFrame(
        {
            "t": np.tile(np.arange(rows), replicates),
            "replicate": np.repeat(np.arange(replicates), rows),
            "simulated": simulated.ravel(),
            "observed": np.tile(observed, replicates),
        }
    )
    return frame if size is None else frame.with_columns(size=np.tile(size, replicates))


def test_the_loss_is_minus_the_log_of_the_replicates_mean_likelihood_not_of_the_mean():
    x = np.array([[1.0, 2.0, 5.0, 9.0], [4.0, 3.0, 10.0, 14.0]])
    nll = negative_log_likelihood({"likelihood": "poisson"}, aligned(x, Y), {})
    joint = np.exp(stats.poisson.logpmf(Y, x).sum(axis=1))  # each replicate's likelihood of all the data
    assert nll == pytest.approx(-math.log(joint.mean()), rel=1e-12)
    assert nll != pytest.approx(-stats.poisson.logpmf(Y, x.mean(axis=0)).sum())


def test_a_dispersion_or_sd_fitted_as_a_parameter_comes_from_the_trial():
    x = RNG.uniform(1, 10, (2, 4))
    target = {"likelihood": "negative_binomial", "dispersion": "k"}
    fixed = negative_log_likelihood({"likelihood": "negative_binomial", "dispersion": 3.0}, aligned(x, Y), {})
    assert negative_log_likelihood(target, aligned(x, Y), {"k": 3.0}) == pytest.approx(fixed)
    binomial = {"likelihood": "beta_binomial", "dispersion": 4.0, "size": "n"}
    p = RNG.uniform(0.1, 0.9, (2, 4))
    expected = -math.log(np.exp(stats.betabinom.logpmf(Y, SIZE, 4 * p, 4 * (1 - p)).sum(axis=1)).mean())
    assert negative_log_likelihood(binomial, aligned(p, Y, SIZE), {}) == pytest.approx(expected)


def test_score_weighs_likelihood_and_loss_targets_together(tmp_path):
    write_curve(tmp_path, values=(1.0, 2.0, 3.0))
    write_curve(tmp_path, "survey.csv", values=(2.0, 4.0, 5.0))
    pl.read_csv(tmp_path / "survey.csv").with_columns(n=pl.lit(10)).write_csv(tmp_path / "survey.csv")
    targets = {
        "curve": {"data": "curve.csv", "keys": ["t"], "value": "value", "likelihood": "normal", "sd": "sigma"},
        "survey": {"data": "survey.csv", "keys": ["t"], "value": "value", "output": "curve",
                   "likelihood": "binomial", "size": "n", "weight": 2.0},  # fmt: skip
        "plain": {"data": "curve.csv", "keys": ["t"], "value": "value", "output": "curve", "loss": "mae"},
    }
    doc = quadratic_doc(targets=targets)
    doc["parameters"]["sigma"] = {"low": 0.1, "high": 5.0}
    spec = parse_spec(doc)
    observed = preflight(spec, tmp_path)
    assert observed["survey"].columns == ["t", "value", "n"]
    outputs = [{"curve": pl.DataFrame({"t": [0, 1, 2], "value": [0.3, 0.4, 0.5]})}]
    dumped = {n: t.model_dump() | {"output": spec.target_output(n)} for n, t in spec.targets.items()}
    total, per_target = score(dumped, observed, outputs, {"x": 1.0, "y": 0.0, "sigma": 2.0})
    sim = np.array([0.3, 0.4, 0.5])
    assert per_target["curve"] == pytest.approx(-stats.norm.logpdf([1, 2, 3], sim, 2.0).sum())
    assert per_target["survey"] == pytest.approx(-stats.binom.logpmf([2, 4, 5], 10, sim).sum())
    assert per_target["plain"] == pytest.approx(np.abs(np.array([1, 2, 3]) - sim).mean())
    assert total == pytest.approx(per_target["curve"] + 2 * per_target["survey"] + per_target["plain"])


@pytest.mark.parametrize(
    ("target", "parameters", "message"),
    [
        ({"loss": "mse", "likelihood": "poisson"}, {}, "a target has a loss or a likelihood, not both"),
        ({"likelihood": "negative_binomial"}, {}, r"the negative_binomial likelihood needs \['dispersion'\]"),
        ({"likelihood": "binomial"}, {}, r"the binomial likelihood needs \['size'\]"),
        ({"likelihood": "poisson", "sd": 1.0}, {}, r"the poisson likelihood takes no \['sd'\]"),
        ({"likelihood": "normal", "sd": -1.0}, {}, "'sd' must be a positive number or a parameter's name"),
        ({"sd": 1.0}, {}, r"\['sd'\] apply to likelihood targets only"),
        ({"likelihood": "normal", "sd": "sigma"}, {}, "no parameter 'sigma' to fit it"),
        ({"likelihood": "normal", "sd": "sigma"}, {"sigma": {"low": -1.0, "high": 1.0}}, "must be a float above 0"),
        ({"likelihood": "gamma"}, {}, "Input should be 'poisson', 'negative_binomial'"),
    ],
)
def test_the_document_names_what_a_likelihood_target_lacks_or_has_too_much(target, parameters, message):
    doc = quadratic_doc()
    doc["targets"]["curve"] = {"data": "curve.csv", "keys": ["t"], "value": "value"} | target
    doc["parameters"] |= parameters
    with pytest.raises(SpecError, match=message):
        parse_spec(doc)


def test_preflight_checks_the_size_column(tmp_path):
    write_curve(tmp_path, values=(1.0, 12.0, 3.0))
    pl.read_csv(tmp_path / "curve.csv").with_columns(n=pl.lit(10)).write_csv(tmp_path / "curve.csv")
    doc = quadratic_doc()
    doc["targets"]["curve"] = {"data": "curve.csv", "keys": ["t"], "value": "value", "likelihood": "binomial",
                               "size": "n"}  # fmt: skip
    with pytest.raises(SpecError, match="value column 'value' must lie between 0 and the size column 'n'"):
        preflight(parse_spec(doc), tmp_path)


@pytest.mark.parametrize("replicates_per_task", [1, "auto"])  # split over tasks, and whole trials packed
def test_a_run_with_a_fitted_sd_scores_each_trial_with_its_own_parameter(dask_client, tmp_path, replicates_per_task):
    from bench.plain_loop import loss_of
    from modelops.seeds import replicate_seeds
    from modelops_contracts import UniqueParameterSet
    from runner.calibrate import calibrate

    write_curve(tmp_path)
    doc = quadratic_doc(model={"entrypoint": "tests.models:noisy_quadratic"}, budget={"trials": 8},
                        replicates=3, compute={"replicates_per_task": replicates_per_task})  # fmt: skip
    doc["parameters"]["sigma"] = {"low": 0.5, "high": 5.0}
    doc["targets"]["curve"] = {"data": "curve.csv", "keys": ["t"], "value": "value", "likelihood": "normal", "sd": "sigma"}
    spec = parse_spec(doc)
    observed = preflight(spec, tmp_path)
    calibrate(spec, observed, dask_client, run_id="lik", results_url=str(tmp_path / "out"))
    trials = pl.read_parquet(tmp_path / "out" / "trials.parquet")
    assert trials.height == 8 and (trials["status"] == "completed").all()
    for row in trials.iter_rows(named=True):
        pset = UniqueParameterSet.from_dict({k: row[f"params_{k}"] for k in ("x", "y", "sigma")})
        assert row["loss"] == pytest.approx(loss_of(spec, observed, pset, replicate_seeds(pset.param_id, 3)))
    assert trials["loss"].n_unique() == 8
