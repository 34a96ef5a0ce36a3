"""The bounded-history sampler: plain TPE while the study is small, a bounded view beyond."""

import optuna
from optuna.distributions import FloatDistribution
from optuna.samplers import BaseSampler, TPESampler

from runner.algorithms.history import BoundedHistory

SPACE = {"x": FloatDistribution(0, 1), "y": FloatDistribution(0, 1)}


def loss(trial):
    return (trial.params["x"] - 0.3) ** 2 + (trial.params["y"] - 0.6) ** 2


def run(sampler, trials, pending=0):
    """Ask/tell `trials` trials, keeping `pending` asked but not yet told (as busy workers do)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler)
    waiting = []
    for _ in range(trials):
        waiting.append(study.ask(SPACE))
        if len(waiting) > pending:
            first = waiting.pop(0)
            study.tell(first, loss(first))
    for trial in waiting:
        study.tell(trial, loss(trial))
    return study


class Spy(BaseSampler):
    """Records the trials each proposal was fitted on; proposes at random."""

    def __init__(self):
        self.random = optuna.samplers.RandomSampler(seed=0)
        self.seen = []

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def sample_independent(self, study, trial, name, distribution):
        self.seen.append(study._get_trials(deepcopy=False))
        return self.random.sample_independent(study, trial, name, distribution)


def test_below_the_window_it_proposes_exactly_what_plain_tpe_proposes():
    plain = run(TPESampler(seed=3), 60, pending=4)
    bounded = run(BoundedHistory(TPESampler(seed=3), window=100), 60, pending=4)
    assert [t.params for t in bounded.trials] == [t.params for t in plain.trials]


def test_beyond_the_window_the_sampler_sees_the_best_the_recent_and_the_running():
    spy = Spy()
    study = run(BoundedHistory(spy, window=30, keep_best=5), 200, pending=3)
    last = spy.seen[-1]
    finished = [t for t in last if t.state.is_finished()]
    running = [t for t in last if t.state == optuna.trial.TrialState.RUNNING]
    assert len(finished) <= 35 and len(running) == 4  # 3 pending and the one being proposed
    assert [t.number for t in last] == sorted(t.number for t in last)
    done = [t for t in study.trials if t.number < running[0].number]
    best = sorted(done, key=lambda t: t.value)[:5]
    assert {t.number for t in best} <= {t.number for t in finished}  # the best are never dropped
    recent = sorted(t.number for t in done)[-30:]
    assert set(recent) <= {t.number for t in finished}
    assert max(len(trials) for trials in spy.seen) <= 39


def test_a_failed_trial_leaves_the_view():
    spy = Spy()
    sampler = BoundedHistory(spy, window=10, keep_best=2)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler)
    failed = study.ask(SPACE)
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    study.ask(SPACE)
    assert failed.number not in {t.number for t in spy.seen[-1]}


def test_the_view_filters_by_state_as_the_study_does():
    sampler = BoundedHistory(TPESampler(seed=1), window=10, keep_best=2)
    study = run(sampler, 30, pending=3)
    pruned = study.ask(SPACE)
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    for _ in range(2):
        study.ask(SPACE)
    view = sampler._view(study)
    shown = view._get_trials(deepcopy=False)
    states = optuna.trial.TrialState
    for wanted in [(states.COMPLETE,), (states.COMPLETE, states.PRUNED), (states.COMPLETE, states.PRUNED, states.RUNNING),
                   (states.RUNNING,), (states.FAIL,)]:  # fmt: skip
        assert view._get_trials(deepcopy=False, states=wanted) == [t for t in shown if t.state in wanted]
    assert {t.state for t in shown} == {states.COMPLETE, states.PRUNED, states.RUNNING}
