"""The baseline every benchmark compares with: a plain sequential Optuna loop, no runner.

One process asks, simulates every replicate, scores and tells, with the same
model, loss, replicate seeds and sampler as a run of the same document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import optuna
import polars as pl

from modelops.ipc import from_ipc
from modelops.scoring import score
from modelops.seeds import replicate_seeds
from modelops.services.execute import run_simulation
from modelops.spec import RunSpec
from modelops_contracts import UniqueParameterSet
from runner.algorithms.optuna_algorithm import distributions, make_sampler


def loss_of(spec: RunSpec, observed: Mapping[str, pl.DataFrame], pset: UniqueParameterSet, seeds: Sequence[int]) -> float:
    """The document's total loss of `pset` simulated with `seeds`, in this process."""
    targets = {n: t.model_dump() | {"output": spec.target_output(n)} for n, t in spec.targets.items()}
    outputs = []
    for seed in seeds:  # the model called here, not in a simulation child: the plain baseline
        outputs.append(from_ipc(run_simulation(spec.model.entrypoint, pset.params, seed).outputs))
    return score(targets, observed, outputs, pset.params)[0]


def plain_optuna(
    spec: RunSpec, observed: Mapping[str, pl.DataFrame], sampler: optuna.samplers.BaseSampler | None = None
) -> optuna.Study:
    """ask -> simulate the replicates -> score -> tell, `spec.budget.trials` times (with the run's sampler unless
    `sampler` is given)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = sampler or make_sampler(spec.algorithm.sampler, spec.seed, spec.algorithm.options)
    study = optuna.create_study(sampler=sampler)
    space = distributions(spec.parameters)
    for _ in range(spec.budget.trials):
        trial = study.ask(space)
        pset = UniqueParameterSet.from_dict(trial.params)
        study.tell(trial, loss_of(spec, observed, pset, replicate_seeds(pset.param_id, spec.replicates)))
    return study
