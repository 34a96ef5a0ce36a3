"""IncrementalTPE proposes exactly what Optuna's TPE proposes, with or without a bounded history."""

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import TPESampler
from optuna.trial import TrialState

from runner.algorithms.history import BoundedHistory
from runner.algorithms.tpe import IncrementalTPE

SPACE = {
    "x": FloatDistribution(0, 1),
    "y": FloatDistribution(1e-3, 10, log=True),
    "n": IntDistribution(1, 9),
    "kind": CategoricalDistribution(["a", "b", "c"]),
    "fixed": CategoricalDistribution([1.0]),
}


def loss(params):
    return (params["x"] - 0.3) ** 2 + (params["y"] - 2) ** 2 / 10 + params["n"] / 20 + (params["kind"] == "b")


def proposals(sampler, trials, pending, direction="minimize", prune_every=0):
    """Ask/tell `trials` trials with `pending` kept in flight; some failed, some told the same loss as another."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler, direction=direction)
    waiting = []
    for i in range(trials):
        waiting.append(study.ask(SPACE))
        if len(waiting) > pending:
            first = waiting.pop(0)
            if i % 11 == 0:
                study.tell(first, state=TrialState.FAIL)
            elif prune_every and i % prune_every == 0:
                study.tell(first, state=TrialState.PRUNED)
            else:
                study.tell(first, round(loss(first.params), 1))  # ties: the ranking's order matters
    return [t.params for t in study.trials]


@pytest.mark.parametrize(
    "options",
    [
        {"multivariate": True, "constant_liar": True},  # the runner's default
        {"multivariate": True, "constant_liar": False},
        {"multivariate": True, "group": True, "constant_liar": True},
        {},  # Optuna's default: independent, no liar
    ],
)
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # group
def test_it_proposes_what_optuna_tpe_proposes(options):
    plain = proposals(TPESampler(seed=5, n_startup_trials=5, **options), 70, pending=4)
    ours = proposals(IncrementalTPE(seed=5, n_startup_trials=5, **options), 70, pending=4)
    assert ours == plain


def test_beyond_a_bounded_history_and_maximizing_it_still_does():
    options = {"seed": 2, "n_startup_trials": 5, "multivariate": True, "constant_liar": True}
    plain = proposals(BoundedHistory(TPESampler(**options), window=20, keep_best=5), 90, 6, "maximize")
    ours = proposals(BoundedHistory(IncrementalTPE(**options), window=20, keep_best=5), 90, 6, "maximize")
    assert ours == plain


def test_with_pruned_trials_it_leaves_the_ranking_to_optuna():
    options = {"seed": 4, "n_startup_trials": 5, "multivariate": True, "constant_liar": True}
    plain = proposals(TPESampler(**options), 40, pending=2, prune_every=3)
    ours = proposals(IncrementalTPE(**options), 40, pending=2, prune_every=3)
    assert ours == plain
