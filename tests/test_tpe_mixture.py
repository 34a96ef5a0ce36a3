"""The batch mixture has Optuna's Parzen density and draws from the same distribution."""

import numpy as np
import pytest
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
    assert mixture.continuous(SPACE)
    assert not mixture.continuous({"x": FloatDistribution(0, 1), "z": IntDistribution(-5, 5)})
    assert not mixture.continuous({"x": FloatDistribution(0, 1, step=0.1)})


@pytest.mark.parametrize("n", [0, 1, 2, 3, 30, 300])
@pytest.mark.parametrize("endpoints,clip", [(False, True), (True, False)])
def test_its_fit_is_optunas_bit_for_bit(n, endpoints, clip):
    parameters = _ParzenEstimatorParameters(1.0, clip, endpoints, default_weights, True)
    rng = np.random.default_rng(n)
    observations = {"x": rng.uniform(0, 1, n), "y": np.exp(rng.uniform(np.log(1e-3), np.log(10), n)),
                    "z": rng.choice([-5.0, 0.0, 1.5, 5.0], n)}  # ties and bounds  # fmt: skip
    theirs = _ParzenEstimator(observations, SPACE, parameters)._mixture_distribution
    ours = mixture.fit(list(zip(*observations.values())), SPACE, parameters)._mixture_distribution
    assert np.array_equal(ours.weights, theirs.weights)
    for a, b in zip(ours.distributions, theirs.distributions, strict=True):
        assert type(a) is type(b) and (a.low, a.high) == (b.low, b.high)
        assert np.array_equal(a.mu, b.mu) and np.array_equal(a.sigma, b.sigma)
