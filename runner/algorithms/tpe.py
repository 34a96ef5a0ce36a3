"""Optuna's TPE with each trial's share of the work done once, not again at every proposal.

At every proposal Optuna's TPE walks its whole history in Python: it splits the
trials into its "good" and "bad" groups (reading each trial's constraints on the
way) and reads each trial's parameters into arrays, then fits both densities.
At 500 trials that walk is about a third of a proposal. `IncrementalTPE` keeps
each finished trial's internal representation once read, splits on values alone,
and keeps the good group's density while the group is unchanged: between two
results only trials in flight are added, and the constant liar puts those in the
bad group only. It computes the same arrays in the same order as Optuna's code,
so it proposes exactly what Optuna's TPE proposes (tested). What it does not
handle so (several objectives, constraints, pruned trials) goes to Optuna's code.

Inside `batch(n)` the n proposals of one ask come from one fit: one draw of
n x n_ei_candidates from the good group's density, one acquisition call, and
the best of each group of n_ei_candidates. Much of a proposal's cost is
fixed per call (numpy on small arrays), and for continuous spaces a batch's
draws and scores are vectorised (`mixture`), so a batch costs a few proposals. Each is chosen as Optuna's TPE would choose it, except that the
constant liar counts only the trials in flight before the batch: a batch's
proposals do not see each other as in flight. A tell (here: a duplicate told
its known result) drops what is queued, so the rest are fitted again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import TPESampler
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator
from optuna.samplers._tpe.sampler import default_gamma
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from . import mixture

_PARAMS = tuple[Any, ...] | None  # a finished trial's internal representation; None: not in the space


class IncrementalTPE(TPESampler):
    """`TPESampler` (same arguments, same proposals), cheaper per proposal on a long history."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._reprs: dict[tuple, dict[int, _PARAMS]] = {}  # by (study, search space): by trial number
        self._below: dict[tuple, tuple[tuple[int, ...], _ParzenEstimator]] = {}  # the last good-group fit
        self._batch: _Batch | None = None

    @contextmanager
    def batch(self, n: int) -> Iterator[None]:
        """The next `n` trials asked are proposed together (one fit per search space), as one batch."""
        self._batch = _Batch(n) if n > 1 else None
        try:
            yield
        finally:
            self._batch = None

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        if self._batch is not None:
            self._batch.queued.clear()  # the history changed: propose the rest from a new fit
        super().after_trial(study, trial, state, values)

    def _sample(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if study._is_multi_objective() or self._constraints_func is not None:
            return super()._sample(study, trial, search_space)
        key = (study._study_id, tuple(search_space.items()))
        size = 1
        if self._batch is not None:
            self._batch.trials.add(trial.number)
            if queued := self._batch.queued.get(key):
                return queued.pop()
            size = max(1, self._batch.size - len(self._batch.trials) + 1)
        states = (TrialState.COMPLETE, TrialState.PRUNED) + ((TrialState.RUNNING,) if self._constant_liar else ())
        trials = study._get_trials(deepcopy=False, states=states, use_cache=not self._constant_liar)
        complete, running = [], []
        for other in trials:
            if other.state == TrialState.COMPLETE:
                complete.append(other)
            elif other.state == TrialState.RUNNING:
                if other.number != trial.number:
                    running.append(other)
            else:
                return super()._sample(study, trial, search_space)  # pruned: Optuna's own ranking
        self._gamma = self._gamma or default_gamma
        ranked = sorted(complete, key=lambda t: t.value, reverse=study.direction == StudyDirection.MAXIMIZE)
        n_below = min(self._gamma(len(complete)), len(complete))
        below = sorted(ranked[:n_below], key=lambda t: t.number)
        above = sorted(ranked[n_below:] + running, key=lambda t: t.number)

        numbers = tuple(t.number for t in below)
        fitted = self._below.get(key)
        if fitted is None or fitted[0] != numbers:
            fitted = self._below[key] = (numbers, self._estimator(key, below, search_space, study))
        mpe_below = fitted[1]
        mpe_above = self._estimator(key, above, search_space, study)

        n_ei = self._n_ei_candidates
        samples_below, acq_func_vals = self._candidates(mpe_below, mpe_above, n_ei * size)
        proposals = []
        for group in range(size):  # the best of each group of n_ei candidates: one proposal each
            part = slice(group * n_ei, (group + 1) * n_ei)
            ret = TPESampler._compare({k: v[part] for k, v in samples_below.items()}, acq_func_vals[part])
            proposals.append({name: dist.to_external_repr(ret[name]) for name, dist in search_space.items()})
        if size > 1:
            assert self._batch is not None
            self._batch.queued[key] = proposals[:0:-1]  # popped in the order drawn
        return proposals[0]

    def _candidates(
        self, mpe_below: _ParzenEstimator, mpe_above: _ParzenEstimator, count: int
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """`count` draws from the good group's density and their acquisition values (vectorised for a batch)."""
        if count > self._n_ei_candidates and mixture.continuous(mpe_below):
            samples = mixture.sample(mpe_below, self._rng.rng, count)
            return samples, mixture.log_pdf(mpe_below, samples) - mixture.log_pdf(mpe_above, samples)
        samples = mpe_below.sample(self._rng.rng, count)
        return samples, self._compute_acquisition_func(samples, mpe_below, mpe_above)

    def _estimator(
        self, key: tuple, trials: list[FrozenTrial], search_space: dict[str, BaseDistribution], study: Study
    ) -> _ParzenEstimator:
        known = self._reprs.setdefault(key, {})
        if len(known) > 4 * len(trials) + 1000:  # trials the bounded history has let go of
            known.clear()
        rows = []
        for trial in trials:
            row = known.get(trial.number, False)
            if row is False:
                row = self._repr(trial, search_space, study)
                if trial.state.is_finished():
                    known[trial.number] = row
            if row is not None:
                rows.append(row)
        columns = zip(*rows) if rows else ([] for _ in search_space)
        observations = {name: np.asarray(column) for name, column in zip(search_space, columns)}
        return self._parzen_estimator_cls(observations, search_space, self._parzen_estimator_parameters)

    def _repr(self, trial: FrozenTrial, search_space: dict[str, BaseDistribution], study: Study) -> _PARAMS:
        """As Optuna's `_get_internal_repr` reads one trial."""
        params = self._get_params(trial, study)
        if not search_space.keys() <= params.keys():
            return None
        return tuple(dist.to_internal_repr(params[name]) for name, dist in search_space.items())


class _Batch:
    """One ask of `size` trials: the trials proposed so far, and proposals queued by search space."""

    def __init__(self, size: int):
        self.size = size
        self.trials: set[int] = set()
        self.queued: dict[tuple, list[dict[str, Any]]] = {}
