"""A batch of TPE proposals shares one draw from the good group's density; each is still scored with the liar."""

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
    """Keeps the size of each draw from the good group's density, and the kernels of each bad group scored."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.draws, self.scored = [], []

    def _draw(self, mpe, count):
        self.draws.append(count)
        samples, log_below = super()._draw(mpe, count)
        self.candidates = {k: v.copy() for k, v in samples.items()}
        return samples, log_below

    def _log_pdf(self, mpe, samples):
        self.scored.append(len(mpe._mixture_distribution.weights))
        return super()._log_pdf(mpe, samples)


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
def test_a_batch_draws_once_and_each_proposal_sees_the_earlier_ones_in_flight(space):
    sampler = Recording(**OPTIONS)
    study, running = study_with_history(sampler, space=space)
    sampler.draws.clear()
    sampler.scored.clear()
    with sampler.batch(5):
        asked = [study.ask(space) for _ in range(5)]
    assert sampler.draws == [5 * 24]  # one draw for the five
    below, *above = sampler.scored  # the draw's own density, then each proposal's bad group
    first = above[0]
    assert above == [first, first + 1, first + 2, first + 3, first + 4]  # the liar: each sees the batch's earlier ones
    for group, trial in enumerate(asked):
        members = [{k: v[i].item() for k, v in sampler.candidates.items()} for i in range(group * 24, group * 24 + 24)]
        assert internal(trial.params, space) in members
    assert len({tuple(internal(t.params, space).values()) for t in asked}) == 5


def test_a_tell_that_changes_the_good_group_draws_the_rest_anew():
    sampler = Recording(**OPTIONS)
    study, running = study_with_history(sampler, finished=31)  # 31 and 32 finished: TPE's good group is 4 trials
    sampler.draws.clear()
    with sampler.batch(5):
        study.ask(SPACE)
        study.tell(running[0], 1e9)  # the bad group only: the draw stays
        study.ask(SPACE)
        study.tell(running[1], -1.0)  # a new best: the good group changed
        study.ask(SPACE)
        study.ask(SPACE)
    assert sampler.draws == [5 * 24, 3 * 24]


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
    sampler.draws.clear()
    proposals = OptunaAlgorithm(study, space, budget=100).ask(6)
    assert len(proposals) == 6 and sampler.draws == [6 * 24]
