"""Scoring simulated trials as a Dask task does: every trial decoded first, then each scored."""

import polars as pl

from modelops.ipc import to_ipc
from modelops_contracts import SimReturn, SimTask, TableArtifact, UniqueParameterSet
from runner.worker_tasks import outcome, outcomes

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
