"""TPE proposals share draws from the good group's density (a batch's, or a continuous space's reservoir); each
is still scored with the liar, and the mixtures fitted are Optuna's."""

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import TPESampler

from optuna.trial import TrialState, create_trial

from modelops.spec import Parameter
from runner.algorithms.history import BoundedHistory
from runner.algorithms.optuna_algorithm import OptunaAlgorithm
from runner.algorithms.tpe import RESERVOIR, IncrementalTPE

SPACE = {
    "x": FloatDistribution(0, 1),
    "y": FloatDistribution(1e-3, 10, log=True),
    "n": IntDistribution(1, 9),
    "kind": CategoricalDistribution(["a", "b", "c"]),
}
OPTIONS = {"seed": 3, "n_startup_trials": 5, "multivariate": True, "constant_liar": True}


CONTINUOUS = {"x": FloatDistribution(0, 1), "y": FloatDistribution(1e-3, 10, log=True)}


class Recording(IncrementalTPE):
    """Keeps the size of each draw from the good group's density, the candidates each proposal took, and the kernels
    of each bad group scored."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.draws, self.scored, self.groups = [], [], []

    def _candidates(self, *args):
        samples, log_below = super()._candidates(*args)
        self.groups.append({k: v.copy() for k, v in samples.items()})
        return samples, log_below

    def _draw(self, mpe, count):
        self.draws.append(count)
        samples, log_below = super()._draw(mpe, count)
        self.scored.pop()  # the draw's own density: not a bad group
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
    sampler.groups.clear()
    with sampler.batch(5):
        asked = [study.ask(space) for _ in range(5)]
    if space is SPACE:
        assert sampler.draws == [5 * 24]  # one draw for the five
    else:  # what the reservoir held (the good group is unchanged since the three asks in flight), then at most one draw
        assert len(sampler.draws) <= 1 and sum(sampler.draws) in (0, RESERVOIR * 24)
    above = sampler.scored  # each proposal's bad group
    first = above[0]
    assert above == [first, first + 1, first + 2, first + 3, first + 4]  # the liar: each sees the batch's earlier ones
    for group, trial in zip(sampler.groups, asked):
        members = [{k: v[i].item() for k, v in group.items()} for i in range(24)]
        assert internal(trial.params, space) in members
    drawn = [tuple(v[i] for v in group.values()) for group in sampler.groups for i in range(24)]
    assert len(set(drawn)) == 5 * 24  # no candidate served twice
    assert len({tuple(internal(t.params, space).values()) for t in asked}) == 5


def test_single_asks_on_a_continuous_space_take_unused_draws_while_the_good_group_stands():
    sampler = Recording(**OPTIONS)
    study, running = study_with_history(sampler, finished=40, running=0, space=CONTINUOUS)
    sampler.draws.clear()
    sampler.scored.clear()
    sampler.groups.clear()
    for _ in range(RESERVOIR + 1):  # no tell: the good group stands
        study.ask(CONTINUOUS)
    assert set(sampler.draws) == {RESERVOIR * 24} and len(sampler.draws) <= 2  # drawn when used up, not per ask
    drawn = [tuple(v[i] for v in group.values()) for group in sampler.groups for i in range(24)]
    assert len(set(drawn)) == len(drawn)  # no candidate served twice
    first = sampler.scored[0]
    assert sampler.scored == [first + i for i in range(RESERVOIR + 1)]  # the liar: each sees one more in flight
    trial = study.ask(CONTINUOUS)
    sampler.draws.clear()
    study.tell(trial, -1.0)  # a new best: the good group changed
    study.ask(CONTINUOUS)
    assert sampler.draws == [RESERVOIR * 24]


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


def test_on_a_mixed_space_outside_a_batch_and_for_one_proposal_it_is_optunas_tpe():
    ours, _ = study_with_history(IncrementalTPE(**OPTIONS))
    plain, _ = study_with_history(TPESampler(**OPTIONS))
    with ours.sampler.batch(1):
        ours.ask(SPACE)
    plain.ask(SPACE)
    assert [t.params for t in ours.trials] == [t.params for t in plain.trials]


class Fits(IncrementalTPE):
    """Keeps the mixtures the last proposal scored its candidates with, and the candidates."""

    fits: dict = {}

    def _candidates(self, key, below, mpe_below, trial):
        samples, log_below = super()._candidates(key, below, mpe_below, trial)
        self.fits = {"below": mpe_below, "samples": samples, "log_below": log_below}  # then the bad group's
        return samples, log_below

    def _log_pdf(self, mpe, samples):
        self.fits["above"] = mpe
        return super()._log_pdf(mpe, samples)


class OptunaFits(TPESampler):
    def _compute_acquisition_func(self, samples, mpe_below, mpe_above):
        self.fits = {"below": mpe_below, "above": mpe_above}
        return super()._compute_acquisition_func(samples, mpe_below, mpe_above)


def fixed_history(sampler, space=CONTINUOUS, finished=60, running=3):
    """A study holding the same finished and running trials whatever the sampler."""
    study = optuna.create_study(sampler=sampler)
    grid = [{"x": (i * 0.37) % 1, "y": 10 ** (-3 + (i * 0.61) % 4)} for i in range(finished + running)]
    for i, params in enumerate(grid):
        value = None if i >= finished else loss(params)
        state = TrialState.RUNNING if value is None else TrialState.COMPLETE
        study.add_trial(create_trial(state=state, value=value, params=params, distributions=space))
    return study


def test_a_continuous_proposal_fits_optunas_mixtures_and_scores_its_candidates_with_their_densities():
    ours, theirs = Fits(**OPTIONS), OptunaFits(**OPTIONS)
    fixed_history(ours).ask(CONTINUOUS)
    fixed_history(theirs).ask(CONTINUOUS)
    for group in ("below", "above"):
        mine, optuna_s = ours.fits[group]._mixture_distribution, theirs.fits[group]._mixture_distribution
        assert np.array_equal(mine.weights, optuna_s.weights)
        for a, b in zip(mine.distributions, optuna_s.distributions, strict=True):
            assert type(a) is type(b) and np.array_equal(a.mu, b.mu) and np.array_equal(a.sigma, b.sigma)
            assert (a.low, a.high) == (b.low, b.high)
    samples = ours.fits["samples"]
    assert np.allclose(ours.fits["log_below"], theirs.fits["below"].log_pdf(samples), rtol=0, atol=1e-9)
    assert np.allclose(IncrementalTPE._log_pdf(ours.fits["above"], samples), theirs.fits["above"].log_pdf(samples),
                       rtol=0, atol=1e-9)  # fmt: skip


def test_continuous_proposals_are_deterministic_for_a_seed():
    first, _ = study_with_history(IncrementalTPE(**OPTIONS), finished=40, space=CONTINUOUS)
    again, _ = study_with_history(IncrementalTPE(**OPTIONS), finished=40, space=CONTINUOUS)
    assert [t.params for t in first.trials] == [t.params for t in again.trials]
    other, _ = study_with_history(IncrementalTPE(**OPTIONS | {"seed": 4}), finished=40, space=CONTINUOUS)
    assert [t.params for t in first.trials][10:] != [t.params for t in other.trials][10:]


def test_optuna_algorithm_asks_a_batch_through_the_bounded_history():
    sampler = Recording(**OPTIONS)
    study, _ = study_with_history(BoundedHistory(sampler, window=10, keep_best=3))
    space = {"x": Parameter(type="float", low=0, high=1), "y": Parameter(type="float", low=1e-3, high=10, log=True),
             "n": Parameter(type="int", low=1, high=9), "kind": Parameter(type="categorical", choices=["a", "b", "c"])}  # fmt: skip
    sampler.draws.clear()
    proposals = OptunaAlgorithm(study, space, budget=100).ask(6)
    assert len(proposals) == 6 and sampler.draws == [6 * 24]


def test_the_liar_still_pushes_a_continuous_proposal_away_from_the_trials_in_flight():
    def distance_from_best(liar: bool, seed: int) -> float:
        study = fixed_history(IncrementalTPE(**OPTIONS | {"seed": seed, "constant_liar": liar}), running=0)
        best = study.best_params
        for _ in range(6):  # in flight where the good group is densest
            study.add_trial(create_trial(state=TrialState.RUNNING, params=best, distributions=CONTINUOUS))
        proposed = study.ask(CONTINUOUS).params
        return float(np.hypot(proposed["x"] - best["x"], np.log10(proposed["y"] / best["y"]) / 4))

    with_liar = [distance_from_best(True, seed) for seed in range(10)]
    without = [distance_from_best(False, seed) for seed in range(10)]
    assert np.median(with_liar) > 1.3 * np.median(without)
