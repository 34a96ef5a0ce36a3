"""Likelihood targets: observation models that marginalise over replicates.

A target with `likelihood:` scores the data y (n rows) against R replicates
x_r of the simulated value by the negative log of the replicates' *mean*
likelihood (log-mean-exp), never by the likelihood of the replicate mean:

    loss = -log( (1/R) sum_r prod_i p(y_i | x_ri, theta) )
         = log R - logsumexp_r( sum_i log p(y_i | x_ri, theta) )

so a stochastic model is judged by how probable the data are under it, and
losses of different targets are log-likelihoods that add up. Each
`log_density` below is vectorised over an (R, n) array of simulated values.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
from scipy.special import betaln, gammaln

from .spec.run import LIKELIHOOD_NEEDS as NEEDS
from .spec.run import LIKELIHOODS

_TINY = 1e-12


def logsumexp(x: np.ndarray, weights: np.ndarray | None = None) -> float:
    """log(sum(weights * exp(x))), stable (scipy's is slow on small arrays)."""
    top = float(np.max(x))
    terms = np.exp(x - top)
    return top + float(np.log(np.sum(terms if weights is None else weights * terms)))


def _log_choose(n: np.ndarray, y: np.ndarray) -> np.ndarray:
    return gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)


def log_density(
    likelihood: str, y: np.ndarray, x: np.ndarray, *, size=None, dispersion=None, sd=None
) -> np.ndarray:
    """log p(y | x) elementwise; `x` is (R, n), `y` and `size` broadcast as (n,)."""
    if likelihood == "poisson":
        mu = np.maximum(x, _TINY)
        return y * np.log(mu) - mu - gammaln(y + 1)
    if likelihood == "negative_binomial":  # mean mu, size k: variance mu + mu^2 / k
        mu, k = np.maximum(x, _TINY), dispersion
        return (
            gammaln(y + k) - gammaln(k) - gammaln(y + 1) + k * np.log(k / (k + mu)) + y * np.log(mu / (k + mu))
        )
    if likelihood == "binomial":  # x is the probability of each of `size` trials
        p = np.clip(x, _TINY, 1 - _TINY)
        return _log_choose(size, y) + y * np.log(p) + (size - y) * np.log1p(-p)
    if likelihood == "beta_binomial":  # mean probability x, concentration phi = alpha + beta
        p = np.clip(x, _TINY, 1 - _TINY)
        alpha, beta = p * dispersion, (1 - p) * dispersion
        return _log_choose(size, y) + betaln(y + alpha, size - y + beta) - betaln(alpha, beta)
    if likelihood == "normal":
        return -0.5 * np.log(2 * np.pi * sd**2) - (y - x) ** 2 / (2 * sd**2)
    raise ValueError(f"unknown likelihood {likelihood!r}: use one of {', '.join(LIKELIHOODS)}")


def negative_log_likelihood(target: Mapping, aligned: pl.DataFrame, params: Mapping[str, float]) -> float:
    """The target's loss: -log of the replicates' mean likelihood of the data.

    `aligned` is the frame every loss gets (one row per key and replicate, in
    replicate blocks, plus a `size` column for binomial targets).
    """
    replicates = aligned["replicate"].n_unique()
    rows = aligned.height // replicates
    x = aligned["simulated"].to_numpy().astype(float).reshape(replicates, rows)
    y = aligned["observed"].to_numpy()[:rows].astype(float)
    size = aligned["size"].to_numpy()[:rows].astype(float) if "size" in NEEDS[target["likelihood"]] else None
    return replicates_negative_log_likelihood(target, x, y, size, params)


def replicates_negative_log_likelihood(
    target: Mapping, x: np.ndarray, y: np.ndarray, size: np.ndarray | None, params: Mapping[str, float]
) -> float:
    """The same loss from arrays: `x` (replicates, n) simulated, `y` (n,) data, `size` (n,) for binomials.

    A dispersion or sd naming a parameter takes that parameter's value from `params`.
    """
    extra = {}
    if "size" in NEEDS[target["likelihood"]]:
        extra["size"] = size
    for name in ("dispersion", "sd"):
        if name in NEEDS[target["likelihood"]]:
            value = target[name]
            extra[name] = float(params[value] if isinstance(value, str) else value)
    per_replicate = log_density(target["likelihood"], y, x, **extra).sum(axis=1)
    return float(np.log(x.shape[0]) - logsumexp(per_replicate))
