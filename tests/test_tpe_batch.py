"""A batch of TPE proposals comes from one fit: the best of each group of candidates, refitted after a tell."""

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import TPESampler

from modelops.spec import Parameter
from runner.algorithms.history import BoundedHistory
from runner.algorithms.optuna_algorithm import OptunaAlgorithm
from runner.algorithms.tpe import IncrementalTPE

SPACE = {
    "x": FloatDistribution(0, 1),
    "y": FloatDistribution(1e-3, 10, log=True),
    "n": IntDistribution(1, 9),
    "kind": CategoricalDistribution(["a", "b", "c"]),
}
OPTIONS = {"seed": 3, "n_startup_trials": 5, "multivariate": True, "constant_liar": True}


CONTINUOUS = {"x": FloatDistribution(0, 1), "y": FloatDistribution(1e-3, 10, log=True)}


class Recording(IncrementalTPE):
    """Keeps each draw of candidates and their acquisition values."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scored = []

    def _candidates(self, mpe_below, mpe_above, count):
        samples, values = super()._candidates(mpe_below, mpe_above, count)
        self.scored.append(({k: v.copy() for k, v in samples.items()}, values))
        return samples, values


def loss(params):
    x, y = params["x"], params["y"]
    return (x - 0.3) ** 2 + (y - 2) ** 2 / 10 + params.get("n", 0) / 20 + (params.get("kind") == "b")


def study_with_history(sampler, finished=30, running=3, space=SPACE):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler)
    for _ in range(finished):
        trial = study.ask(space)
        study.tell(trial, loss(trial.params))
    return study, [study.ask(space) for _ in range(running)]


def internal(params, space=SPACE):
    return {name: dist.to_internal_repr(params[name]) for name, dist in space.items()}


@pytest.mark.parametrize("space", [SPACE, CONTINUOUS], ids=["mixed", "continuous"])
def test_a_batch_is_scored_once_and_each_proposal_is_the_best_of_its_group(space):
    sampler = Recording(**OPTIONS)
    study, _ = study_with_history(sampler, space=space)
    sampler.scored.clear()
    with sampler.batch(5):
        asked = [study.ask(space) for _ in range(5)]
    assert len(sampler.scored) == 1  # one fit, one draw, one acquisition call for the five
    samples, values = sampler.scored[0]
    assert len(values) == 5 * 24
    for group, trial in enumerate(asked):
        best = group * 24 + int(np.argmax(values[group * 24 : (group + 1) * 24]))
        assert internal(trial.params, space) == {k: v[best].item() for k, v in samples.items()}
    assert len({tuple(internal(t.params, space).values()) for t in asked}) == 5


def test_a_tell_inside_a_batch_fits_the_rest_again():
    sampler = Recording(**OPTIONS)
    study, running = study_with_history(sampler)
    sampler.scored.clear()
    with sampler.batch(4):
        study.ask(SPACE)
        study.tell(running[0], 0.0)  # e.g. a duplicate told its known result
        study.ask(SPACE)
        study.ask(SPACE)
    assert [len(values) for _, values in sampler.scored] == [4 * 24, 3 * 24]


def test_outside_a_batch_and_for_one_proposal_it_is_optunas_tpe():
    ours, _ = study_with_history(IncrementalTPE(**OPTIONS))
    plain, _ = study_with_history(TPESampler(**OPTIONS))
    with ours.sampler.batch(1):
        ours.ask(SPACE)
    plain.ask(SPACE)
    assert [t.params for t in ours.trials] == [t.params for t in plain.trials]


def test_optuna_algorithm_asks_a_batch_through_the_bounded_history():
    sampler = Recording(**OPTIONS)
    study, _ = study_with_history(BoundedHistory(sampler, window=10, keep_best=3))
    space = {"x": Parameter(type="float", low=0, high=1), "y": Parameter(type="float", low=1e-3, high=10, log=True),
             "n": Parameter(type="int", low=1, high=9), "kind": Parameter(type="categorical", choices=["a", "b", "c"])}  # fmt: skip
    sampler.scored.clear()
    proposals = OptunaAlgorithm(study, space, budget=100).ask(6)
    assert len(proposals) == 6 and len(sampler.scored) == 1
