"""A sampler that fits on a bounded history, so a proposal costs the same at 10,000 trials as at 1,000.

Optuna's TPE fits its two densities on every trial of the study at every ask,
so the cost of a proposal grows with the study (about 50 ms at 10,000 trials
here). `BoundedHistory` hands the sampler a view of the study holding the
`keep_best` best trials, the `window` most recently finished ones, and every
running one (TPE's constant liar needs those): TPE's "good" group is the best
`gamma(n) <= 25` trials, all kept, and its weights already fade old trials out
of the "bad" group, so what the view leaves out is what TPE barely uses. Until
the study outgrows the window the view is the whole study, so short runs
propose exactly what plain TPE proposes. The view is kept up to date
incrementally: each proposal looks only at trials new or unfinished since the last,
and the finished trials shown are sorted again only after one finishes.
"""

from __future__ import annotations

import bisect
import copy
from collections import deque
from collections.abc import Container, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

DEFAULT_KEEP_BEST = 25  # TPE's default gamma never puts more than 25 trials in its "good" group


class BoundedHistory(BaseSampler):
    """`sampler`, seeing at most `window + keep_best` finished trials of the study, plus the running ones."""

    def __init__(self, sampler: BaseSampler, window: int, keep_best: int = DEFAULT_KEEP_BEST):
        if window < 1 or keep_best < 0:
            raise ValueError(f"history window must be >= 1 and keep_best >= 0, not {window} and {keep_best}")
        self.sampler = sampler
        self.window = window
        self.keep_best = keep_best
        self._views: dict[int, _History] = {}  # by study id: a sampler may serve several studies

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.sampler.infer_relative_search_space(self._view(study), trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.sampler.sample_relative(self._view(study), trial, search_space)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.sampler.sample_independent(self._view(study), trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.sampler.before_trial(study, trial)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()

    def batch(self, n: int) -> AbstractContextManager:
        """The sampler's batch of `n` proposals, if it has batches."""
        batch = getattr(self.sampler, "batch", None)
        return nullcontext() if batch is None else batch(n)

    def _view(self, study: Study) -> _StudyView:
        history = self._views.get(study._study_id)
        if history is None:
            sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
            history = self._views[study._study_id] = _History(self.window, self.keep_best, sign)
        shown = history.update(study._get_trials(deepcopy=False))
        return _StudyView(study, shown, history.kept, history.kept_states)


class _History:
    """The trials a view shows, brought up to date from the study's trial list (ordered by number)."""

    def __init__(self, window: int, keep_best: int, sign: float):
        self.keep_best = keep_best
        self.sign = sign
        self.seen = 0  # trials[:seen] have been looked at
        self.unfinished: set[int] = set()  # numbers of trials seen before they finished
        self.recent: deque[FrozenTrial] = deque(maxlen=window)  # in the order they were seen finished
        self.best: list[tuple[float, int]] = []  # (signed value, number), best first
        self.best_trials: dict[int, FrozenTrial] = {}
        self.kept: list[FrozenTrial] = []  # the finished trials shown (recent and best), by number
        self.kept_numbers: list[int] = []
        self.kept_states: set[TrialState] = set()
        self.changed = False  # a trial finished since `kept` was built

    def update(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        fresh = range(self.seen, len(trials))
        self.seen = len(trials)
        running = []
        for number in sorted(self.unfinished.union(fresh)):
            trial = trials[number]
            if trial.state in (TrialState.RUNNING, TrialState.WAITING):
                self.unfinished.add(number)
                if trial.state == TrialState.RUNNING:
                    running.append(trial)
                continue
            self.unfinished.discard(number)
            if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
                self._finished(trial)
        if self.changed:  # rebuilt once per batch of results, not at every proposal
            kept = {t.number: t for t in self.recent} | self.best_trials
            self.kept_numbers = sorted(kept)
            self.kept = [kept[number] for number in self.kept_numbers]
            self.kept_states = {t.state for t in self.kept}
            self.changed = False
        shown, start = [], 0
        for trial in running:  # by number, as the finished ones
            at = bisect.bisect_left(self.kept_numbers, trial.number, start)
            shown += self.kept[start:at]
            shown.append(trial)
            start = at
        return shown + self.kept[start:]

    def _finished(self, trial: FrozenTrial) -> None:
        self.changed = True
        self.recent.append(trial)
        if trial.state != TrialState.COMPLETE or not self.keep_best:
            return
        entry = (self.sign * trial.values[0], trial.number)
        if len(self.best) >= self.keep_best and entry >= self.best[-1]:
            return
        bisect.insort(self.best, entry)
        self.best_trials[trial.number] = trial
        if len(self.best) > self.keep_best:
            del self.best_trials[self.best.pop()[1]]


class _StudyView:
    """The study as the sampler sees it: its trials are the history's; all else is the study's."""

    def __init__(self, study: Study, trials: list[FrozenTrial], finished: list[FrozenTrial], states: set[TrialState]):
        """`trials`: `finished` (in `states`) and the running ones, by number."""
        self._study = study
        self._trials = trials
        self._finished = finished
        self._finished_states = states

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None, use_cache: bool = False
    ) -> list[FrozenTrial]:
        if states is None:
            trials = self._trials
        elif all(state in states for state in self._finished_states):  # TPE's asks: no trial to look at
            trials = self._trials if TrialState.RUNNING in states else list(self._finished)
        else:
            trials = [t for t in self._trials if t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return self._get_trials(deepcopy, states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self._get_trials()
