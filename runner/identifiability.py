"""Identifiability warnings: do the trials that fit as well as the best agree on the parameters?

A point estimate hides a ridge: when many parameter sets fit within the noise
of the best, the best is one of them by luck. After an optimisation, the
*near-best* trials are those whose loss is within `NOISE_SDS` noise standard
deviations of the best loss — the confirmed best's held-out loss, not the
luckiest search draw. The noise sd of one evaluation comes from the
confirmation phase (the best candidate's fresh losses); without it, the band
is `FALLBACK_BAND` of the way from the best to the median loss. Among the
near-best trials, for each numeric parameter (on its sampling scale):

- `spread`: the 5-95% range as a fraction of the parameter's range; above
  `WIDE` the parameter is not pinned down by the data;
- correlations between pairs: |r| above `TRADE_OFF` with both parameters
  spread means they trade off along a ridge (only a combination is identified).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelops.spec import Parameter

from .trials import TrialRecord

NOISE_SDS = 2.0
FALLBACK_BAND = 0.05
MIN_NEAR_BEST = 8
WIDE = 0.25
SPREAD = 0.1
TRADE_OFF = 0.8


def near_best_threshold(losses: Sequence[float], noise_sd: float | None, best_loss: float | None = None) -> float:
    """The band's top: `best_loss` (the confirmed best's expected loss; else the lowest loss) plus the noise.

    The lowest search loss is the luckiest draw, a few noise sds below what
    the best parameter set scores on average: a band from there leaves out
    most of the trials that fit as well."""
    best = min(losses)
    if noise_sd is not None and noise_sd > 0:
        return max(best, best_loss if best_loss is not None else best) + NOISE_SDS * noise_sd
    return best + FALLBACK_BAND * (statistics.median(losses) - best)


def identifiability(
    records: Sequence[TrialRecord],
    space: Mapping[str, Parameter],
    noise_sd: float | None,
    best_loss: float | None = None,
) -> dict[str, Any] | None:
    """The near-best trials' spread and correlations, and warnings naming the parameters (None: too few trials)."""
    completed = [r for r in records if r.status == "completed" and r.phase == "search"]
    numeric = [n for n, p in space.items() if p.type != "categorical"]
    if len(completed) < 2 * MIN_NEAR_BEST or not numeric:
        return None
    threshold = near_best_threshold([r.loss for r in completed], noise_sd, best_loss)
    near = [r for r in completed if r.loss <= threshold]
    if len(near) < MIN_NEAR_BEST:
        return {"near_best": len(near), "threshold": threshold, "spread": {}, "correlations": [], "warnings": []}
    scaled = np.array([[_scaled(r.params[n], space[n]) for n in numeric] for r in near])
    q05, q95 = np.quantile(scaled, [0.05, 0.95], axis=0)
    spread = {n: float(q95[j] - q05[j]) for j, n in enumerate(numeric)}
    warnings, correlations = [], []
    for j, a in enumerate(numeric):
        for k in range(j + 1, len(numeric)):
            b = numeric[k]
            if spread[a] < SPREAD or spread[b] < SPREAD:
                continue
            r = float(np.corrcoef(scaled[:, j], scaled[:, k])[0, 1])
            if math.isfinite(r) and abs(r) >= TRADE_OFF:
                correlations.append({"parameters": [a, b], "r": round(r, 3)})
                warnings.append(
                    f"{a} and {b} trade off: among the {len(near)} trials within the noise of the best "
                    f"(loss <= {threshold:.4g}) their correlation is {r:+.2f}, {a} spans {spread[a]:.0%} and "
                    f"{b} {spread[b]:.0%} of its range; the data identify a combination of them, not each"
                )
    traded = {p for c in correlations for p in c["parameters"]}
    for name in numeric:
        if spread[name] >= WIDE and name not in traded:
            warnings.append(
                f"{name} is weakly identified: the {len(near)} trials within the noise of the best "
                f"(loss <= {threshold:.4g}) span {spread[name]:.0%} of its range"
            )
    return {
        "near_best": len(near),
        "threshold": threshold,
        "spread": {n: round(s, 3) for n, s in spread.items()},
        "correlations": correlations,
        "warnings": warnings,
    }


def _scaled(value: float, parameter: Parameter) -> float:
    """Where `value` lies in the parameter's range, 0..1, on its sampling scale."""
    if parameter.log:
        return (math.log(value) - math.log(parameter.low)) / (math.log(parameter.high) - math.log(parameter.low))
    return (value - parameter.low) / (parameter.high - parameter.low)
