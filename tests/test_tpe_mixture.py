"""The batch mixture has Optuna's Parzen density and draws from the same distribution."""

import numpy as np
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
from optuna.samplers._tpe.sampler import default_weights

from runner.algorithms import mixture

SPACE = {"x": FloatDistribution(0, 1), "y": FloatDistribution(1e-3, 10, log=True), "z": FloatDistribution(-5, 5)}
PARAMETERS = _ParzenEstimatorParameters(1.0, True, False, default_weights, True)


def estimator(n=300, space=SPACE):
    rng = np.random.default_rng(1)
    observations = {
        "x": np.r_[[0.0, 0.0, 1.0], rng.uniform(0, 1, n - 3)],  # kernels on the bounds too
        "y": np.exp(rng.uniform(np.log(1e-3), np.log(10), n)),
        "z": rng.normal(0, 2, n).clip(-5, 5),
    }
    return _ParzenEstimator({k: observations[k] for k in space}, space, PARAMETERS)


def test_its_log_density_is_optunas():
    mpe = estimator()
    samples = mpe.sample(np.random.RandomState(0), 500)
    assert np.allclose(mixture.log_pdf(mpe, samples), mpe.log_pdf(samples), rtol=0, atol=1e-9)


def test_its_draws_follow_optunas_distribution():
    mpe = estimator()
    ours = mixture.sample(mpe, np.random.RandomState(2), 10_000)
    theirs = mpe.sample(np.random.RandomState(1), 10_000)
    for name, dist in SPACE.items():
        assert dist.low <= ours[name].min() and ours[name].max() <= dist.high
        scale = np.log if dist.log else (lambda v: v)
        q = np.linspace(0.01, 0.99, 15)
        spread = scale(dist.high) - scale(dist.low)
        assert np.max(np.abs(np.quantile(scale(ours[name]), q) - np.quantile(scale(theirs[name]), q))) < 0.03 * spread


def test_it_handles_continuous_spaces_only():
    assert mixture.continuous(estimator())
    assert not mixture.continuous(estimator(space={"x": FloatDistribution(0, 1), "z": IntDistribution(-5, 5)}))
