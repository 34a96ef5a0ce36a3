"""Optuna's TPE with each trial's share of the work done once, not again at every proposal.

At every proposal Optuna's TPE walks its whole history in Python: it splits the
trials into its "good" and "bad" groups (reading each trial's constraints on the
way) and reads each trial's parameters into arrays, then fits both densities.
At 500 trials that walk is about a third of a proposal. `IncrementalTPE` keeps
each finished trial's internal representation once read (a running one's once
its parameters are set), splits on values alone and keeps that split while no
trial finishes (then ranks in only the trials that came or went), and keeps the
good group's density while the group is unchanged: between two
results only trials in flight are added, and the constant liar puts those in the
bad group only. It fits the same mixtures as Optuna's code, from the same arrays
in the same order (tested; on continuous spaces `mixture.fit` fits every
parameter at once). What it does not handle so (several objectives,
constraints, pruned trials) goes to Optuna's code.

Then Optuna draws n_ei_candidates candidates from the good group's density
and scores each by the log-ratio of the two densities; drawing (a Python
quantile solve per element) and scoring are most of a proposal. On continuous
spaces the draws and both densities are vectorised (`mixture`), and the good
group's draws come from a reservoir: RESERVOIR groups of n_ei_candidates drawn
in one call with their good-group log-density, each proposal taking the next
unused group, drawn anew when the good group changes. A group is independent
draws from the density the proposal would draw from afresh, so the proposal has
Optuna's distribution (not its bits: the random stream is consumed in another
order); deterministic for a seed. Each proposal still fits the bad group with
every trial in flight (the constant liar) and scores its own group against it.
Inside `batch(n)` (one ask of n trials) the draw covers at least the rest of the
batch. On other spaces (ints, categoricals) a single proposal is Optuna's code
call for call, and a batch shares one draw from Optuna's mixture.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import TPESampler
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator
from optuna.samplers._tpe.sampler import default_gamma
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from . import mixture

RESERVOIR = 8  # groups of n_ei_candidates drawn at once from a continuous good group's density
_PARAMS = tuple[Any, ...] | None  # a finished trial's internal representation; None: not in the space


class IncrementalTPE(TPESampler):
    """`TPESampler` (same arguments, same proposals), cheaper per proposal on a long history."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._reprs: dict[tuple, dict[int, _PARAMS]] = {}  # by (study, search space): by trial number
        self._below: dict[tuple, tuple[tuple[int, ...], _ParzenEstimator]] = {}  # the last good-group fit
        self._splits: dict[tuple, _Split] = {}  # by (study, search space)
        self._running: dict[tuple, dict[int, tuple]] = {}  # trials in flight: by trial number
        self._draws: dict[tuple, _Draws] = {}  # the good group's unused draws, by (study, search space)
        self._batch: _Batch | None = None

    @contextmanager
    def batch(self, n: int) -> Iterator[None]:
        """The next `n` trials asked are served from one draw from the good group's density (per search space)."""
        self._batch = _Batch(n) if n > 1 else None
        try:
            yield
        finally:
            self._batch = None

    def _sample(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if study._is_multi_objective() or self._constraints_func is not None:
            return super()._sample(study, trial, search_space)
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
        key = (study._study_id, tuple(search_space.items()))
        split = self._split(key, complete, search_space, study)
        fitted = self._below.get(key)
        if fitted is None or fitted[0] != split.below:
            rows = [row for _, row in self._rows(key, list(split.below), split.trials, search_space, study)]
            fitted = self._below[key] = (split.below, self._fit(rows, search_space))
        mpe_below = fitted[1]
        rows, start = [], 0
        for number, row in self._running_rows(key, running, search_space, study):  # merged in by number
            at = bisect.bisect_left(split.above_numbers, number, start)
            rows += split.above_rows[start:at]
            rows.append(row)
            start = at
        mpe_above = self._fit(rows + split.above_rows[start:], search_space)

        if self._batch is None and not mixture.continuous(search_space):  # Optuna's TPE, call for call
            samples_below = mpe_below.sample(self._rng.rng, self._n_ei_candidates)
            acq_func_vals = self._compute_acquisition_func(samples_below, mpe_below, mpe_above)
        else:
            samples_below, log_below = self._candidates(key, split.below, mpe_below, trial.number)
            acq_func_vals = log_below - self._log_pdf(mpe_above, samples_below)
        ret = TPESampler._compare(samples_below, acq_func_vals)
        return {name: dist.to_external_repr(ret[name]) for name, dist in search_space.items()}

    def _candidates(
        self, key: tuple, below: tuple[int, ...], mpe_below: _ParzenEstimator, trial: int
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The next n_ei_candidates unused draws from the good group's density and their log-density there; drawn
        anew when the good group (its trial numbers `below`) changed or the draws are used up."""
        n_ei = self._n_ei_candidates
        groups = self._batch.left(trial) if self._batch is not None else 1
        held = self._draws.get(key)
        if held is None or held.below != below or held.used == held.groups:
            groups = max(groups, RESERVOIR if mixture.continuous(mpe_below._search_space) else 1)
            held = self._draws[key] = _Draws(below, *self._draw(mpe_below, groups * n_ei), groups)
        part = slice(held.used * n_ei, (held.used + 1) * n_ei)
        held.used += 1
        return {name: values[part] for name, values in held.samples.items()}, held.log_below[part]

    def _draw(self, mpe: _ParzenEstimator, count: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """`count` draws from `mpe` and its log-density at each."""
        if mixture.continuous(mpe._search_space):
            samples = mixture.sample(mpe, self._rng.rng, count)
        else:
            samples = mpe.sample(self._rng.rng, count)
        return samples, self._log_pdf(mpe, samples)

    @staticmethod
    def _log_pdf(mpe: _ParzenEstimator, samples: dict[str, np.ndarray]) -> np.ndarray:
        return mixture.log_pdf(mpe, samples) if mixture.continuous(mpe._search_space) else mpe.log_pdf(samples)

    def _split(self, key: tuple, complete: list[FrozenTrial], search_space: dict, study: Study) -> _Split:
        """TPE's split of the finished trials, kept while the same trials are the finished ones, and updated by the
        trials that came and went since. The ranking breaks ties by trial number, as Optuna's stable sort of a
        study's trials (in number order) does."""
        ids = tuple(map(id, complete))
        split = self._splits.get(key)
        if split is not None and split.ids == ids:
            return split
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        ranking, trials, gone, new, now = [], {}, [], complete, set(ids)
        if split is not None:
            ranking, trials = split.ranking, split.trials
            gone = [t for t in split.complete if id(t) not in now]
            new = [t for t in complete if id(t) not in split.idset]
        for trial in gone:
            del ranking[bisect.bisect_left(ranking, (sign * trial.value, trial.number))]
            del trials[trial.number]
        for trial in new:
            bisect.insort(ranking, (sign * trial.value, trial.number))
            trials[trial.number] = trial
        self._gamma = self._gamma or default_gamma
        below = tuple(sorted(number for _, number in ranking[: min(self._gamma(len(ranking)), len(ranking))]))
        rest = self._rows(key, sorted(trials.keys() - set(below)), trials, search_space, study)
        split = self._splits[key] = _Split(ids, now, complete, ranking, trials, below,
                                           [n for n, _ in rest], [r for _, r in rest])  # fmt: skip
        return split

    def _rows(
        self, key: tuple, numbers: list[int], trials: dict[int, FrozenTrial], search_space: dict, study: Study
    ) -> list[tuple[int, tuple]]:
        """(number, internal representation) of each finished trial `numbers` names that is in the space, read once
        per trial."""
        known = self._reprs.setdefault(key, {})
        if len(known) > 4 * len(trials) + 1000:  # trials the bounded history has let go of
            known.clear()
        rows = []
        for number in numbers:
            row = known.get(number, False)
            if row is False:
                row = known[number] = self._repr(trials[number], search_space, study)
            if row is not None:
                rows.append((number, row))
        return rows

    def _running_rows(
        self, key: tuple, running: list[FrozenTrial], search_space: dict[str, BaseDistribution], study: Study
    ) -> list[tuple[int, tuple]]:
        """As `_rows` for trials in flight: a running trial's parameters, once all are set, stay as they are."""
        known = self._running.get(key, {})
        rows = {}
        for trial in running:
            row = known.get(trial.number) or self._repr(trial, search_space, study)
            if row is not None:
                rows[trial.number] = row
        self._running[key] = rows
        return list(rows.items())

    def _fit(self, rows: list[tuple], search_space: dict[str, BaseDistribution]) -> _ParzenEstimator:
        if mixture.continuous(search_space) and self._parzen_estimator_cls is _ParzenEstimator:
            return mixture.fit(rows, search_space, self._parzen_estimator_parameters)
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
    """One ask of `size` trials."""

    def __init__(self, size: int):
        self.size = size
        self.trials: set[int] = set()  # asked so far

    def left(self, trial: int) -> int:
        """Trials of the batch not yet asked, `trial` included."""
        self.trials.add(trial)
        return max(1, self.size - len(self.trials) + 1)


@dataclass
class _Split:
    """Finished trials (held, so their ids stay theirs) split into TPE's good group and the rest."""

    ids: tuple[int, ...]
    idset: set[int]
    complete: list[FrozenTrial]
    ranking: list[tuple[float, int]]  # (value, negated when maximizing; number) of each, best first
    trials: dict[int, FrozenTrial]  # by number
    below: tuple[int, ...]  # the good group's trial numbers
    above_numbers: list[int]  # the rest in the space, by number
    above_rows: list[tuple]  # their internal representations


@dataclass
class _Draws:
    below: tuple[int, ...]
    samples: dict[str, np.ndarray]
    log_below: np.ndarray
    groups: int
    used: int = 0
