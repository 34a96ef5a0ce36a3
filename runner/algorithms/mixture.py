"""TPE's Parzen mixture drawn from and scored vectorised (continuous spaces).

Optuna's mixture computes a truncated normal's quantiles with a Python function
per element (a Newton solve of `log_ndtr`) and its log-density as several
passes over a candidates x kernels x parameters array: most of a proposal's
cost. Here the same mixture (Optuna's weights, mus, sigmas and bounds, read
from the fitted estimator) is drawn by inverting the normal CDF over each
kernel's bounds (every kernel's centre lies inside them, so no tail needs
Optuna's care) and scored with the kernels' quadratic forms as matrix
products. Same distribution and density (to rounding), not the same bits.
`fit` builds the estimator itself as Optuna does, every parameter in one pass:
the same weights, mus and sigmas, bit for bit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.samplers._tpe.parzen_estimator import EPS, _ParzenEstimator, _ParzenEstimatorParameters
from optuna.samplers._tpe.probability_distributions import (
    _BatchedTruncLogNormDistributions,
    _BatchedTruncNormDistributions,
    _MixtureOfProductDistribution,
)
from scipy.special import ndtr, ndtri

_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def continuous(search_space: dict[str, BaseDistribution]) -> bool:
    """Every parameter a float without a step: what this module handles."""
    return all(isinstance(d, FloatDistribution) and d.step is None for d in search_space.values())


def _kernels(mpe: _ParzenEstimator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mus, sigmas) as kernels x parameters, the bounds per parameter (log scale for log ones), which are log."""
    dists = mpe._mixture_distribution.distributions
    mus = np.stack([d.mu for d in dists], axis=1)
    sigmas = np.stack([d.sigma for d in dists], axis=1)
    lows = np.array([d.adapted_low for d in dists])
    highs = np.array([d.adapted_high for d in dists])
    return mus, sigmas, lows, highs, np.array([d.is_log for d in dists])


def sample(mpe: _ParzenEstimator, rng: np.random.RandomState, size: int) -> dict[str, np.ndarray]:
    """`size` draws from the mixture, as `mpe.sample` draws them."""
    weights = mpe._mixture_distribution.weights
    active = rng.choice(len(weights), p=weights, size=size)
    mus, sigmas, lows, highs, is_log = _kernels(mpe)
    mu, sigma = mus[active], sigmas[active]
    below, above = ndtr((lows - mu) / sigma), ndtr((highs - mu) / sigma)  # each kernel's CDF at the bounds
    drawn = mu + sigma * ndtri(below + rng.random_sample(mu.shape) * (above - below))
    drawn = np.clip(drawn, lows, highs)
    drawn[:, is_log] = np.exp(drawn[:, is_log])
    return mpe._untransform(drawn)


def log_pdf(mpe: _ParzenEstimator, samples: dict[str, np.ndarray]) -> np.ndarray:
    """The mixture's log-density at each sample, as `mpe.log_pdf` gives it (log parameters in log space)."""
    mus, sigmas, lows, highs, is_log = _kernels(mpe)
    x = mpe._transform(samples)
    x[:, is_log] = np.log(x[:, is_log])
    a, b = (lows - mus) / sigmas, (highs - mus) / sigmas
    log_mass = np.log1p(-ndtr(a) - ndtr(-b))  # a <= 0 <= b: every kernel's centre is inside the bounds
    constant = np.log(mpe._mixture_distribution.weights) - (log_mass + np.log(sigmas) + _LOG_SQRT_2PI).sum(axis=1)
    precision = 1.0 / sigmas**2  # sum over parameters of ((x - mu) / sigma)^2, expanded into products
    quadratic = (x**2) @ precision.T - 2.0 * x @ (mus * precision).T + (mus**2 * precision).sum(axis=1)
    weighted = constant - 0.5 * np.maximum(quadratic, 0.0)
    top = weighted.max(axis=1, keepdims=True)
    return np.log(np.exp(weighted - top).sum(axis=1)) + top[:, 0]


@functools.lru_cache(maxsize=64)
def _weights(weights_func: Callable[[int], np.ndarray], n: int, prior_weight: float) -> np.ndarray:
    """The kernels' weights, as Optuna's estimator computes them for n trials (read-only: shared)."""
    weights = _ParzenEstimator._call_weights_func(weights_func, n)
    weights = np.append(weights, [prior_weight]) if n else np.array([1.0])
    weights /= weights.sum()
    weights.flags.writeable = False
    return weights


def fit(rows: list[tuple], search_space: dict[str, BaseDistribution], parameters: _ParzenEstimatorParameters) -> _ParzenEstimator:
    """Optuna's `_ParzenEstimator` of `rows` (each trial's internal representation) on a continuous space, every
    parameter at once instead of one pass each: the same weights, mus and sigmas, bit for bit (tested)."""
    dists = list(search_space.values())
    n = len(rows)
    columns = np.array(rows, dtype=float).T if rows else np.empty((len(dists), 0))  # parameters x trials
    weights = _weights(parameters.weights, n, parameters.prior_weight)
    is_log = np.array([d.log for d in dists])
    lows = np.array([np.log(d.low) if d.log else d.low for d in dists])  # scalars, as Optuna takes each log
    highs = np.array([np.log(d.high) if d.log else d.high for d in dists])
    mus = columns.copy()
    mus[is_log] = np.log(columns[is_log])
    order = np.argsort(mus, axis=1)  # Optuna's compute_sigmas: the larger gap to a neighbour (bounds included)
    ends = np.empty((len(dists), n + 2))
    ends[:, 0], ends[:, 1:-1], ends[:, -1] = lows, np.take_along_axis(mus, order, axis=1), highs
    sigmas = np.maximum(ends[:, 1:-1] - ends[:, :-2], ends[:, 2:] - ends[:, 1:-1])
    if not parameters.consider_endpoints and n + 2 >= 4:
        sigmas[:, 0] = ends[:, 2] - ends[:, 1]
        sigmas[:, -1] = ends[:, -2] - ends[:, -3]
    unsorted = np.empty_like(sigmas)
    unsorted[np.arange(len(dists))[:, None], order] = sigmas  # back in the trials' order
    sigmas = unsorted
    spans = highs - lows
    floor = spans / min(100.0, 1.0 + (n + 1)) if parameters.consider_magic_clip else np.full(len(dists), EPS)
    sigmas = np.clip(sigmas, floor[:, None], spans[:, None])
    mus = np.append(mus, (0.5 * (lows + highs))[:, None], axis=1)  # the prior kernel
    sigmas = np.append(sigmas, spans[:, None], axis=1)
    kinds = [_BatchedTruncLogNormDistributions if d.log else _BatchedTruncNormDistributions for d in dists]
    mpe = _ParzenEstimator.__new__(_ParzenEstimator)
    mpe._search_space = search_space
    mpe._mixture_distribution = _MixtureOfProductDistribution(
        weights=weights, distributions=[k(mus[i], sigmas[i], d.low, d.high) for i, (k, d) in enumerate(zip(kinds, dists))]
    )
    return mpe
