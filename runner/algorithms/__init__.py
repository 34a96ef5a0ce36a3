"""Algorithms that propose parameter sets, all behind `AdaptiveAlgorithm`."""

from __future__ import annotations

from collections.abc import Sequence

import optuna

from modelops.entrypoints import load_object
from modelops.spec import RunSpec
from modelops.spec.sampler_options import ABC_SMC
from modelops_contracts import AdaptiveAlgorithm, ContractViolationError

from ..journal_storage import RunJournalStorage
from ..trials import TrialRecord
from .abc_smc import AbcSmc
from .optuna_algorithm import OptunaAlgorithm, make_sampler


def build_algorithm(
    spec: RunSpec,
    *,
    seed: int,
    study_name: str,
    storage: optuna.storages.BaseStorage | None = None,
    history: Sequence[TrialRecord] = (),
) -> AdaptiveAlgorithm:
    """The algorithm the document asks for, seeded with `seed`; Optuna's study in `storage`.

    `history` is the run's finished trials (a resumed run): abc-smc rebuilds its
    population from them; Optuna's study holds its own.
    """
    if spec.algorithm.name == ABC_SMC:
        return AbcSmc(spec.parameters, spec.algorithm.sampler_options(), spec.budget.trials, seed, history)
    if spec.algorithm.name == "optuna":
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            study_name=study_name,
            storage=storage,
            load_if_exists=True,
            direction="minimize",
            sampler=make_sampler(spec.algorithm.sampler, seed, spec.algorithm.options),
        )
        journal = storage if isinstance(storage, RunJournalStorage) else None
        return OptunaAlgorithm(study, spec.parameters, spec.budget.trials, spec.budget.target_loss, journal=journal)
    factory = load_object(spec.algorithm.name)
    algorithm = factory(
        space=spec.parameters, budget=spec.budget.trials, seed=seed, **spec.algorithm.options
    )
    if not isinstance(algorithm, AdaptiveAlgorithm):
        raise ContractViolationError(f"{spec.algorithm.name} did not build an AdaptiveAlgorithm (ask/tell/finished)")
    return algorithm
