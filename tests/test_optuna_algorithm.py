import math

import optuna
import pytest

from modelops.spec import SpecError, parse_spec
from modelops_contracts import AdaptiveAlgorithm, ContractViolationError, TrialResult, TrialStatus, make_param_id
from runner.algorithms import build_algorithm
from runner.algorithms.optuna_algorithm import distributions
from runner.study import optuna_storage
from tests.documents import quadratic_doc


def algorithm(seed=1, **changes):
    return build_algorithm(parse_spec(quadratic_doc(**changes)), seed=seed, study_name="test")


def loss_of(pset):
    return (pset.params["x"] - 3) ** 2 + pset.params["y"]


def drive(algo, batch=4):
    asked = []
    while not algo.finished():
        proposals = algo.ask(batch)
        asked += proposals
        algo.tell([TrialResult(p.param_id, loss_of(p)) for p in proposals])
    return asked


def test_optuna_is_an_adaptive_algorithm_that_stops_at_the_budget():
    algo = algorithm()
    assert isinstance(algo, AdaptiveAlgorithm)
    asked = drive(algo)
    assert len(asked) == 12 and len({p.param_id for p in asked}) == 12
    assert algo.ask(4) == []


def test_never_asks_more_than_the_budget_even_with_trials_in_flight():
    algo = algorithm()
    assert len(algo.ask(10)) == 10
    assert len(algo.ask(10)) == 2
    assert algo.ask(10) == []


@pytest.mark.parametrize("sampler", ["tpe", "cmaes", "random", "qmc"])
def test_each_sampler_is_selectable_and_reproducible_with_a_seed(sampler):
    first = [p.param_id for p in drive(algorithm(algorithm={"sampler": sampler}))]
    second = [p.param_id for p in drive(algorithm(algorithm={"sampler": sampler}))]
    assert first == second


def test_sampler_options_are_passed_and_bad_ones_are_clear():
    algo = algorithm(algorithm={"sampler": "tpe", "options": {"n_startup_trials": 3, "history": 50}})
    assert algo.study.sampler.sampler._n_startup_trials == 3 and algo.study.sampler.window == 50
    with pytest.raises(SpecError, match="no_such_option: unknown option .the tpe sampler takes: n_startup_trials"):
        algorithm(algorithm={"sampler": "tpe", "options": {"no_such_option": 1}})
    with pytest.raises(SpecError, match="history: Input should be greater than or equal to 1"):
        algorithm(algorithm={"sampler": "tpe", "options": {"history": 0}})


@pytest.mark.parametrize(
    ("sampler", "options", "message"),
    [
        ("tpe", {"n_startup_trials": -1}, "n_startup_trials: Input should be greater than or equal to 0"),
        ("tpe", {"group": True, "multivariate": False}, "'group' needs 'multivariate'"),
        ("cmaes", {"restart_strategy": "sometimes"}, "restart_strategy: Input should be 'ipop' or 'bipop'"),
        ("qmc", {"qmc_type": "lattice"}, "qmc_type: Input should be 'sobol' or 'halton'"),
        ("random", {"seed": 3}, "seed: unknown option .the random sampler takes: none"),
    ],
)
def test_every_samplers_options_are_validated_in_the_document(sampler, options, message):
    with pytest.raises(SpecError, match=message) as caught:
        parse_spec(quadratic_doc(algorithm={"sampler": sampler, "options": options}))
    assert [e.field for e in caught.value.errors] == ["algorithm.options"]


def test_qmc_is_scrambled_by_the_seed():
    def points(seed):
        return {tuple(p.params.values()) for p in drive(algorithm(seed, algorithm={"sampler": "qmc"}, budget={"trials": 64}))}

    assert len(points(1) & points(2)) == 0 and points(1) == points(1)
    unscrambled = {"sampler": "qmc", "options": {"scramble": False}}  # all but the first (random) point shared
    assert [p.params for p in drive(algorithm(1, algorithm=unscrambled))][1:] == [
        p.params for p in drive(algorithm(2, algorithm=unscrambled))
    ][1:]


def test_stops_at_the_target_loss():
    algo = algorithm(budget={"trials": 500, "target_loss": 1.0})
    asked = drive(algo)
    assert algo.finished() and len(asked) < 500
    assert algo.best_loss <= 1.0


def test_a_duplicate_proposal_is_told_the_known_result_not_evaluated_again():
    doc_params = {"c": {"choices": ["a", "b", "c"]}}
    algo = build_algorithm(
        parse_spec(quadratic_doc(parameters=doc_params, budget={"trials": 10})), seed=3, study_name="dups"
    )
    asked = []
    while not algo.finished():
        proposals = algo.ask(2)
        asked += proposals
        algo.tell([TrialResult(p.param_id, float(ord(p.params["c"]))) for p in proposals])
    assert sorted(p.params["c"] for p in asked) == ["a", "b", "c"]  # space exhausted, nothing twice
    assert len(algo.study.trials) > 3  # the sampler saw its duplicate proposals, told from the cache


def test_failed_trials_are_told_as_failures():
    algo = algorithm()
    [pset] = algo.ask(1)
    algo.tell([TrialResult(pset.param_id, math.nan, {"error": "boom"}, TrialStatus.FAILED)])
    assert algo.study.trials[0].state.name == "FAIL"
    assert algo.best_loss is None


def test_identical_results_are_no_ops_and_conflicting_ones_are_rejected():
    algo = algorithm()
    [pset] = algo.ask(1)
    algo.tell([TrialResult(pset.param_id, 1.0)])
    algo.tell([TrialResult(pset.param_id, 1.0)])
    assert len(algo.study.trials) == 1
    with pytest.raises(ContractViolationError, match="conflicting result"):
        algo.tell([TrialResult(pset.param_id, 2.0)])


def test_a_result_for_a_set_asked_before_a_restart_completes_the_studys_running_trial(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    spec = parse_spec(quadratic_doc())
    first = build_algorithm(spec, seed=1, study_name="resume", storage=storage)
    [pset] = first.ask(1)  # the process dies before telling
    second = build_algorithm(spec, seed=2, study_name="resume", storage=storage)
    second.tell([TrialResult(pset.param_id, 0.5)])
    [trial] = second.study.trials
    assert trial.state.name == "COMPLETE" and trial.value == 0.5
    second.tell([TrialResult("f" * 64, 1.0)])  # asked and told elsewhere: nothing left to tell here
    assert len(second.study.trials) == 1


def test_a_set_asked_before_a_crash_is_in_the_runs_journal_so_the_resumed_runner_completes_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    spec = parse_spec(quadratic_doc())
    first = build_algorithm(spec, seed=1, study_name="resume", storage=optuna_storage(url, "resume"))
    [pset] = first.ask(1)  # leased next; the runner dies before telling, with nothing else written after the ask
    second = build_algorithm(spec, seed=2, study_name="resume", storage=optuna_storage(url, "resume"))
    second.tell([TrialResult(pset.param_id, 0.5)])
    [trial] = second.study.trials
    assert trial.state.name == "COMPLETE" and trial.value == 0.5
    assert make_param_id(trial.params) == pset.param_id

def test_parameter_kinds_map_to_optuna_distributions():
    spec = parse_spec(
        quadratic_doc(
            parameters={
                "rate": {"low": 0.001, "high": 1, "log": True},
                "n": {"type": "int", "low": 1, "high": 9, "step": 2},
                "kind": {"choices": ["sir", "seir"]},
            }
        )
    )
    dists = distributions(spec.parameters)
    assert dists["rate"].log and dists["rate"].low == 0.001
    assert (dists["n"].low, dists["n"].high, dists["n"].step) == (1, 9, 2)
    assert dists["kind"].choices == ("sir", "seir")
    algo = build_algorithm(spec, seed=0, study_name="kinds")
    for pset in algo.ask(8):
        assert isinstance(pset.params["n"], int) and pset.params["n"] % 2 == 1
        assert 0.001 <= pset.params["rate"] <= 1 and pset.params["kind"] in ("sir", "seir")


def test_a_trial_another_runner_closes_while_this_one_asks_is_asked_again():
    """A runner frozen mid-ask (SIGSTOP while its sampler ran) wakes to its new trial closed as abandoned."""
    algo = algorithm(budget={"trials": 3})
    sampler, closed = algo.study.sampler, []
    sample = sampler.sample_independent

    def closed_by_the_other_runner(study, trial, name, distribution):
        if not closed:
            closed.append(trial.number)
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)  # the live runner's close_abandoned
        return sample(study, trial, name, distribution)

    sampler.sample_independent = closed_by_the_other_runner
    asked = algo.ask(3)
    assert closed == [0] and len(asked) == 3 and len({p.param_id for p in asked}) == 3
