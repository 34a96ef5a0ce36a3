"""TPE's Parzen mixture drawn from and scored vectorised (continuous spaces).

Optuna's mixture computes a truncated normal's quantiles with a Python function
per element (a Newton solve of `log_ndtr`) and its log-density as several
passes over a candidates x kernels x parameters array: most of a proposal's
cost. Here the same mixture (Optuna's weights, mus, sigmas and bounds, read
from the fitted estimator) is drawn by inverting the normal CDF over each
kernel's bounds (every kernel's centre lies inside them, so no tail needs
Optuna's care) and scored with the kernels' quadratic forms as matrix
products. Same distribution and density (to rounding), not the same bits.
"""

from __future__ import annotations

import numpy as np
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator
from optuna.samplers._tpe.probability_distributions import (
    _BatchedTruncLogNormDistributions,
    _BatchedTruncNormDistributions,
)
from scipy.special import ndtr, ndtri

_CONTINUOUS = (_BatchedTruncNormDistributions, _BatchedTruncLogNormDistributions)
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def continuous(mpe: _ParzenEstimator) -> bool:
    """Every parameter a float without a step: what this module handles."""
    return all(isinstance(d, _CONTINUOUS) for d in mpe._mixture_distribution.distributions)


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
