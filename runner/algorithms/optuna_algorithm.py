"""Optuna behind the `AdaptiveAlgorithm` protocol, through ask/tell.

The budget counts distinct parameter sets. When the sampler proposes a set
that was already evaluated, the trial is told the known result at once (the
sampler learns, nothing is simulated twice); a set already in flight is told
when its result arrives. A result for a set this process never asked (one
leased before a restart, or by a runner that died) is told to the study's
running trial for it, so a shared study ends with no trial left running.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from contextlib import nullcontext
from typing import TYPE_CHECKING

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.study._tell import _tell_with_warning
from optuna.trial import TrialState

from modelops.spec import Parameter
from modelops.spec.sampler_options import TpeOptions, sampler_options
from modelops_contracts import ContractViolationError, TrialResult, TrialStatus, UniqueParameterSet, make_param_id

from .history import BoundedHistory
from .tpe import IncrementalTPE

if TYPE_CHECKING:
    from ..journal_storage import RunJournalStorage

# Consecutive duplicate proposals after which a (finite) space counts as exhausted.
MAX_DUPLICATES = 200


def distributions(space: Mapping[str, Parameter]) -> dict[str, BaseDistribution]:
    out: dict[str, BaseDistribution] = {}
    for name, p in space.items():
        if p.type == "categorical":
            out[name] = CategoricalDistribution(p.choices)
        elif p.type == "int":
            out[name] = IntDistribution(int(p.low), int(p.high), log=p.log, step=p.step or 1)
        else:
            out[name] = FloatDistribution(p.low, p.high, log=p.log)
    return out


def make_sampler(name: str, seed: int | None, options: Mapping) -> optuna.samplers.BaseSampler:
    """The Optuna sampler `name` seeded with `seed`; `options` are validated first (`ValueError`).

    TPE (Optuna's, its per-trial work done once: `IncrementalTPE`) fits on a bounded history
    (`BoundedHistory`, option `history`)."""
    validated = sampler_options(name, dict(options))
    kwargs = validated.sampler_kwargs()
    samplers = {
        "tpe": IncrementalTPE,
        "cmaes": optuna.samplers.CmaEsSampler,
        "random": optuna.samplers.RandomSampler,
        "qmc": optuna.samplers.QMCSampler,
    }
    with warnings.catch_warnings():  # QMC is marked experimental; choosing it is the user's call
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = samplers[name](seed=seed, **kwargs)
    return BoundedHistory(sampler, validated.history) if isinstance(validated, TpeOptions) else sampler


class OptunaAlgorithm:
    """Ask/tell over one Optuna study, stopping at a trial budget or a target loss."""

    def __init__(
        self,
        study: optuna.Study,
        space: Mapping[str, Parameter],
        budget: int,
        target_loss: float | None = None,
        journal: RunJournalStorage | None = None,
    ):
        """`journal`: the study's storage where it is a run's journal, which writes a batch's new trials together
        and makes what it holds back of the asks durable (`flush`) before they are proposed."""
        self.study = study
        self._journal = journal
        self._distributions = distributions(space)
        self._budget = budget
        self._target_loss = target_loss
        self._pending: dict[str, list[optuna.trial.Trial]] = {}
        self._results: dict[str, TrialResult] = {}
        self._exhausted = False
        self.best_loss: float | None = None  # kept as results arrive, never rescanned

    def ask(self, n: int) -> list[UniqueParameterSet]:
        room = min(n, self._budget - len(self._results) - len(self._pending))
        proposals: list[UniqueParameterSet] = []
        duplicates = 0
        batch = getattr(self.study.sampler, "batch", None)  # TPE proposes a whole ask from one fit
        sampling = nullcontext() if batch is None or room < 2 else batch(room)
        with sampling, nullcontext() if self._journal is None else self._journal.asking(room):
            while len(proposals) < room and not self.finished():
                try:
                    trial = self.study.ask(self._distributions)
                except optuna.exceptions.UpdateFinishedTrialError:
                    continue  # frozen mid-ask, its new trial was closed as abandoned by another runner: ask again
                pset = UniqueParameterSet.from_dict(trial.params)
                if pset.param_id in self._results:
                    self._tell_trial(trial, self._results[pset.param_id])
                elif pset.param_id in self._pending:
                    self._pending[pset.param_id].append(trial)
                else:
                    self._pending[pset.param_id] = [trial]
                    proposals.append(pset)
                    duplicates = 0
                    continue
                duplicates += 1
                if duplicates >= MAX_DUPLICATES:
                    self._exhausted = True
        if proposals and self._journal is not None:
            self._journal.flush()  # leased next: a crash must not part a leased set from the study's trial for it
        return proposals

    def tell(self, results: list[TrialResult]) -> None:
        running: dict[str, list[int]] | None = None  # the study's running trials, read once per call
        for result in results:
            known = self._results.get(result.param_id)
            if known is not None:
                if known != result:
                    raise ContractViolationError(f"conflicting result for param_id {result.param_id}")
                continue
            self._results[result.param_id] = result
            if result.status is TrialStatus.COMPLETED and (self.best_loss is None or result.loss < self.best_loss):
                self.best_loss = result.loss
            trials = self._pending.pop(result.param_id, None)
            if not trials:
                running = self._running() if running is None else running
                trials = running.pop(result.param_id, [])
            for trial in trials:
                self._tell_trial(trial, result)

    def finished(self) -> bool:
        if self._exhausted or len(self._results) >= self._budget:
            return True
        best = self.best_loss
        return self._target_loss is not None and best is not None and best <= self._target_loss

    def close_abandoned(self) -> None:
        """At a run's end, fail the study's trials nobody will tell (asked by a runner that died before leasing)."""
        for param_id, numbers in self._running().items():
            if param_id not in self._pending:
                for number in numbers:
                    self._tell_once(number, state=TrialState.FAIL)

    def _running(self) -> dict[str, list[int]]:
        """The study's running trials by parameter set: those of sets asked elsewhere are adopted when told."""
        running: dict[str, list[int]] = {}
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            running.setdefault(make_param_id(trial.params), []).append(trial.number)
        return running

    def _tell_trial(self, trial: optuna.trial.Trial | int, result: TrialResult) -> None:
        if result.status is TrialStatus.COMPLETED and math.isfinite(result.loss):
            self._tell_once(trial, result.loss)
        else:
            self._tell_once(trial, state=TrialState.FAIL)

    def _tell_once(
        self, trial: optuna.trial.Trial | int, values: float | None = None, state: TrialState | None = None
    ) -> None:
        """Another runner may tell the same trial (it took over the lease, or closes abandoned ones too):
        the first told wins, as in the ledger.

        `Study.tell` less the deep copy of the told trial it returns, which nobody here reads: about a tenth
        of the runner's own CPU per cheap trial."""
        try:
            _tell_with_warning(self.study, trial, values, state, skip_if_finished=True)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # told by the other between this one's check and its write
