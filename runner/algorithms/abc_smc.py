"""ABC-SMC: an approximate posterior, behind the same ask/tell protocol as the optimisers.

Approximate Bayesian computation by sequential Monte Carlo (Beaumont et al.
2009, with an adaptive tolerance schedule as in Del Moral et al. 2012). The
prior is uniform over the parameter space (log-uniform for `log: true`
parameters); all arithmetic happens in those coordinates. A trial's loss is
its distance to the data.

- Generation 0 samples the prior and accepts everything (tolerance infinite).
- Generation t has tolerance eps_t = the `quantile` of generation t-1's
  distances. A proposal picks a particle of t-1 by weight and perturbs it
  with a Gaussian kernel of covariance `kernel_scale` x the weighted
  covariance of t-1 (redrawn until inside the prior's bounds, no simulation
  spent); it is accepted if its distance is at most eps_t.
- An accepted particle's weight is 1 / sum_j w_j K(theta | theta_j) (the
  uniform prior's density cancels); weights are normalised per generation
  and the effective sample size is 1 / sum w^2.
- A generation is complete at `particles` acceptances; results of proposals
  for a generation already complete are not used (busy mode keeps a few in
  flight). The search stops after `generations`, when eps_t reaches
  `min_epsilon`, when a generation's acceptance rate falls below
  `min_acceptance`, or at the trial budget.

Resuming rebuilds the state from the run's finished trials: each trial's
lease time and finish time order the asks and tells as they happened, so
replaying them assigns every trial to the generation it was proposed for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from modelops.likelihoods import logsumexp
from modelops.spec import Parameter
from modelops.spec.sampler_options import AbcSmcOptions
from modelops_contracts import TrialResult, TrialStatus, UniqueParameterSet

from ..trials import TrialRecord


@dataclass(frozen=True)
class Kernel:
    """The last complete generation as proposals need it: particles, weights, covariance factors."""

    particles: np.ndarray
    weights: np.ndarray
    cholesky: np.ndarray
    precision: np.ndarray


@dataclass
class Generation:
    epsilon: float
    particles: list[np.ndarray] = field(default_factory=list)  # internal coordinates
    distances: list[float] = field(default_factory=list)
    log_weights: list[float] = field(default_factory=list)
    param_ids: list[str] = field(default_factory=list)
    proposed: int = 0  # proposals told for this generation (accepted or not)

    def weights(self) -> np.ndarray:
        logs = np.array(self.log_weights)
        return np.exp(logs - logsumexp(logs))

    def ess(self) -> float:
        return float(1.0 / np.sum(self.weights() ** 2))


class AbcSmc:
    """ABC-SMC over float parameters; `posterior()` is the last complete generation."""

    def __init__(
        self,
        space: Mapping[str, Parameter],
        options: AbcSmcOptions,
        budget: int,
        seed: int,
        history: Sequence[TrialRecord] = (),
    ):
        self.names = list(space)
        self._log = np.array([space[n].log for n in self.names])
        self._low = self._internal([space[n].low for n in self.names])
        self._high = self._internal([space[n].high for n in self.names])
        self.options = options
        self._budget = budget
        self._rng = np.random.default_rng(seed)
        self.generations: list[Generation] = [Generation(math.inf)]
        self._asked: dict[str, tuple[int, dict[str, float]]] = {}  # param_id -> (generation, params) asked
        self._told = 0
        self._stopped: str | None = None
        self._kernel: Kernel | None = None  # from the last complete generation
        self._replay(history)

    # --- the protocol ---------------------------------------------------

    def ask(self, n: int) -> list[UniqueParameterSet]:
        if self.finished():
            return []
        room = min(n, self._budget - self._told - len(self._asked))
        sets = [UniqueParameterSet.from_dict(self._params(theta)) for theta in self._propose(max(0, room))]
        for pset in sets:
            self._asked[pset.param_id] = (len(self.generations) - 1, dict(pset.params))
        return sets

    def tell(self, results: list[TrialResult]) -> None:
        for result in results:
            asked = self._asked.pop(result.param_id, None)
            if asked is None:
                continue  # asked before a restart and never finished then: spent, not part of a population
            self._told += 1
            ok = result.status is TrialStatus.COMPLETED and math.isfinite(result.loss)
            self._accept(*asked, result.param_id, result.loss, ok)

    def finished(self) -> bool:
        return self._stopped is not None or self._told >= self._budget

    # --- the algorithm ----------------------------------------------------

    @property
    def current(self) -> Generation:
        return self.generations[-1]

    def _propose(self, n: int) -> np.ndarray:
        """`n` proposals: prior draws, or perturbed particles of the last complete generation inside the bounds."""
        if self._kernel is None:
            return self._rng.uniform(self._low, self._high, (n, len(self.names)))
        kernel, out = self._kernel, np.empty((0, len(self.names)))
        for _ in range(1000):
            if len(out) >= n:
                return out[:n]
            base = kernel.particles[self._rng.choice(len(kernel.weights), size=2 * n, p=kernel.weights)]
            theta = base + self._rng.standard_normal(base.shape) @ kernel.cholesky.T
            out = np.vstack([out, theta[np.all((theta >= self._low) & (theta <= self._high), axis=1)]])
        raise RuntimeError("abc-smc: the perturbation kernel keeps leaving the parameter space")

    def _accept(self, index: int, params: dict[str, float], param_id: str, distance: float, ok: bool) -> None:
        if index != len(self.generations) - 1 or self._stopped:
            return  # a proposal for a generation already complete
        generation = self.current
        generation.proposed += 1
        if not ok or distance > generation.epsilon:
            self._check_acceptance(generation)
            return
        theta = self._internal([params[n] for n in self.names])
        generation.particles.append(theta)
        generation.distances.append(distance)
        generation.param_ids.append(param_id)
        generation.log_weights.append(self._log_weight(theta))
        if len(generation.particles) >= self.options.particles:
            self._next_generation()

    def _log_weight(self, theta: np.ndarray) -> float:
        if self._kernel is None:
            return 0.0
        diffs = self._kernel.particles - theta
        log_kernel = -0.5 * np.einsum("ij,jk,ik->i", diffs, self._kernel.precision, diffs)  # constants cancel
        return -logsumexp(log_kernel, self._kernel.weights)

    def _next_generation(self) -> None:
        done = self.current
        epsilon = float(np.quantile(done.distances, self.options.quantile))
        if len(self.generations) >= self.options.generations:
            self._stopped = "generations"
        elif epsilon <= self.options.min_epsilon:
            self._stopped = "min_epsilon"
        if self._stopped:
            return
        particles, weights = np.array(done.particles), done.weights()
        cov = self.options.kernel_scale * np.atleast_2d(np.cov(particles.T, aweights=weights))
        cov += np.eye(len(self.names)) * 1e-12 * (self._high - self._low) ** 2  # never singular
        self._kernel = Kernel(particles, weights, np.linalg.cholesky(cov), np.linalg.inv(cov))
        self.generations.append(Generation(epsilon))

    def _check_acceptance(self, generation: Generation) -> None:
        floor = self.options.min_acceptance
        if len(self.generations) > 1 and generation.proposed >= self.options.particles / floor:
            if len(generation.particles) / generation.proposed < floor:
                self._stopped = "min_acceptance"

    def _internal(self, values: Sequence[float]) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        return np.where(self._log, np.log(np.where(self._log, x, 1.0)), x)

    def _params(self, theta: np.ndarray) -> dict[str, float]:
        values = np.where(self._log, np.exp(theta), theta)
        return {n: float(v) for n, v in zip(self.names, values)}

    def _replay(self, history: Sequence[TrialRecord]) -> None:
        """Asks and tells of a previous life, in the order they happened."""
        events = [(r.submitted_at, 0, r.number, r) for r in history]
        events += [(r.finished_at, 1, r.number, r) for r in history if r.finished_at is not None]
        for _, kind, _, record in sorted(events, key=lambda e: e[:3]):
            if kind == 0:
                self._asked[record.param_id] = (len(self.generations) - 1, record.params)
            else:
                self.tell([record.to_result()])

    # --- results ----------------------------------------------------------

    @property
    def complete(self) -> list[Generation]:
        """Generations with their full complement of particles."""
        return [g for g in self.generations if len(g.particles) >= self.options.particles]

    def posterior(self) -> pl.DataFrame:
        """The last complete generation's weighted particles: the posterior sample."""
        if not self.complete:
            return pl.DataFrame()
        index = self.generations.index(self.complete[-1])
        generation = self.complete[-1]
        weights = generation.weights()
        rows = []
        for k, theta in enumerate(generation.particles):
            params = self._params(theta)
            rows.append({"generation": index, "particle": k, "param_id": generation.param_ids[k]}
                        | {f"params_{n}": params[n] for n in self.names}
                        | {"weight": float(weights[k]), "distance": generation.distances[k],
                           "epsilon": _finite(generation.epsilon)})  # fmt: skip
        return pl.DataFrame(rows)

    def summary(self) -> dict:
        """Per-parameter weighted mean, sd and 5/50/95% quantiles of the last complete generation."""
        if not self.complete:
            return {"generations": 0, "stopped": self._stopped or "budget", "parameters": {}, "schedule": []}
        last = self.complete[-1]
        weights = last.weights()
        values = np.array([list(self._params(t).values()) for t in last.particles])
        parameters = {}
        for j, name in enumerate(self.names):
            mean = float(np.sum(weights * values[:, j]))
            sd = float(np.sqrt(np.sum(weights * (values[:, j] - mean) ** 2)))
            q05, q50, q95 = weighted_quantiles(values[:, j], weights, (0.05, 0.5, 0.95))
            parameters[name] = {"mean": mean, "sd": sd, "q05": q05, "q50": q50, "q95": q95}
        schedule = [
            {"epsilon": _finite(g.epsilon), "accepted": len(g.particles), "proposed": g.proposed,
             "ess": g.ess() if g.particles else None}
            for g in self.generations
        ]  # fmt: skip
        return {
            "generations": len(self.complete),
            "particles": len(last.particles),
            "epsilon": _finite(last.epsilon),
            "ess": last.ess(),
            "stopped": self._stopped or "budget",
            "parameters": parameters,
            "schedule": schedule,
        }


def _finite(value: float) -> float | None:
    """JSON has no infinity: generation 0's tolerance is written as null."""
    return value if math.isfinite(value) else None


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: Sequence[float]) -> list[float]:
    """Quantiles of a weighted sample (midpoint rule on the sorted cumulative weights)."""
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cumulative = (np.cumsum(w) - 0.5 * w) / np.sum(w)
    return [float(np.interp(q, cumulative, v)) for q in qs]
