"""Scoring simulated trials as a Dask task does: every trial decoded first, then each scored."""

import os

import polars as pl

from modelops.ipc import to_ipc
from modelops_contracts import SimReturn, SimTask, TableArtifact, UniqueParameterSet
from modelops.services.child import SCORERS_KEPT
from modelops.services.executor import simulate_groups
from runner.worker_tasks import outcome, outcomes, run_trials

OBSERVED = {"curve": pl.DataFrame({"t": [0, 1], "value": [1.0, 3.0]})}
TARGETS = {"curve": {"keys": ["t"], "value": "value", "loss": "mse", "weight": 1.0, "output": "curve"}}


def trial(x: float) -> tuple[list[SimTask], list]:
    params = UniqueParameterSet.from_dict({"x": x})
    tasks = [SimTask("installed", "tests.models:quadratic", params, seed) for seed in (1, 2)]
    table = pl.DataFrame({"t": [0, 1], "value": [x, x]})
    data = to_ipc({"curve": table})["curve"]
    artifact = TableArtifact.from_bytes(data)
    return tasks, [(SimReturn(t.task_id, {"curve": artifact}, metrics={"seconds": 0.0}), None) for t in tasks]


def test_outcomes_are_each_trials_outcome():
    trials, groups = zip(*(trial(x) for x in (0.0, 1.0, 2.0)))
    expected = [outcome(OBSERVED, TARGETS, g, t[0].params.params) for t, g in zip(trials, groups)]
    assert outcomes(trials, groups, OBSERVED, TARGETS) == expected
    assert [o["loss"] for o in expected] == [5.0, 2.0, 1.0]


def test_outputs_that_cannot_be_decoded_fail_their_trial_only():
    (good, good_group), (bad, bad_group) = trial(1.0), trial(2.0)
    result, _ = bad_group[0]
    corrupt = {"curve": TableArtifact.from_bytes(b"not arrow")}
    bad_group[0] = (SimReturn(result.task_id, corrupt, metrics={"seconds": 0.0}), None)
    first, second = outcomes([good, bad], [good_group, bad_group], OBSERVED, TARGETS)
    assert first["status"] == "completed" and first["loss"] == 2.0
    assert second["status"] == "failed" and second["error"]["stage"] == "scoring"


def group(entrypoints: list[str], **params: float | str) -> list[SimTask]:
    pset = UniqueParameterSet.from_dict(params)
    return [SimTask("installed", e, pset, seed, outputs=("curve",)) for seed, e in enumerate(entrypoints)]


def without_timings(results: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "sim_seconds"} for r in results]


def test_trials_scored_in_their_child_end_as_scored_here(monkeypatch, tmp_path):
    """Completed, failing, unscorable and crashed-then-retried trials: the same outcomes either way."""
    observed = {"curve": pl.DataFrame({"t": [0, 1, 2], "value": [1.0, 2.0, 3.0]})}
    names = "quadratic", "fails_above_five", "misbehaves", "noisy_quadratic"
    quadratic, fails, misbehaves, noisy = (f"tests.models:{name}" for name in names)
    trials = [
        group([quadratic, quadratic], x=1.0),
        group([fails, fails], x=6.0),
        group([noisy, misbehaves], x=2.0, how="crash_once"),  # the second kills the child, which held the first's
        group([quadratic, quadratic], x=4.0),
    ]
    monkeypatch.setenv("MODELOPS_TEST_CALLS", str(tmp_path / "in-child"))
    in_child = run_trials(trials, observed, TARGETS)
    monkeypatch.setenv("MODELOPS_TEST_CALLS", str(tmp_path / "here"))
    here = outcomes(trials, simulate_groups(trials), observed, TARGETS)
    assert (tmp_path / "in-child").exists() and (tmp_path / "here").exists()  # both crashed once
    assert without_timings(in_child) == without_timings(here)
    assert [o["status"] for o in in_child] == ["completed", "failed", "completed", "completed"]
    assert in_child[0]["loss"] == (3.0**2 + 2.0**2 + 1.0**2) / 3
    assert in_child[1]["error"]["stage"] == "simulation" and "out of the model's range" in in_child[1]["error"]["message"]

    unscorable = TARGETS | {"missing": TARGETS["curve"] | {"value": "absent", "output": "curve"}}
    both = observed | {"missing": observed["curve"]}
    [in_child] = run_trials(trials[:1], both, unscorable)
    [here] = outcomes(trials[:1], simulate_groups(trials[:1]), both, unscorable)
    assert without_timings([in_child]) == without_timings([here])
    assert in_child["error"]["stage"] == "scoring" and "absent" in in_child["error"]["message"]
    assert "Traceback" in in_child["error"]["traceback"]


def test_trials_scored_in_their_child_read_the_data_they_are_given():
    """A new data frame for a target is scored against, not one a child was sent before, past the
    number a child keeps too (the parent knows which it forgot)."""
    trials = [group(["tests.models:quadratic"] * 2, x=1.0)]
    values = [4.0 + v for v in range(SCORERS_KEPT + 2)] + [4.0]
    losses = []
    for value in values:
        observed = {"curve": pl.DataFrame({"t": [0, 1, 2], "value": [value] * 3})}
        [result] = run_trials(trials, observed, TARGETS)
        losses.append(result["loss"])
    assert losses == [(value - 4.0) ** 2 for value in values]


def test_a_child_scores_batch_after_batch_without_being_replaced():
    """The pid of the process that simulated, as a loss against zeros: the same child every call."""
    trials = [group(["tests.models:its_pid"] * 2, x=1.0)]
    observed = {"curve": pl.DataFrame({"t": [0, 1, 2], "value": [0.0] * 3})}
    losses = {run_trials(trials, observed, TARGETS)[0]["loss"] for _ in range(3)}
    assert len(losses) == 1 and losses != {float(os.getpid()) ** 2}
