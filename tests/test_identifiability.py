"""Identifiability warnings: near-best trials that spread along a ridge are named."""

import numpy as np
import pytest

from modelops.spec import parse_spec, preflight
from runner.calibrate import calibrate
from runner.identifiability import identifiability, near_best_threshold
from runner.trials import TrialRecord
from tests.documents import quadratic_doc, write_curve

SPACE = parse_spec(
    quadratic_doc(parameters={"a": {"low": 0.0, "high": 4.0}, "b": {"low": 0.0, "high": 4.0},
                              "c": {"low": 0.01, "high": 100.0, "log": True}})  # fmt: skip
).parameters


def records(loss, focus: bool = False) -> list[TrialRecord]:
    """1,000 trials spread over the space; with `focus`, half near (1, 2, 1) as an optimiser's would be."""
    rng = np.random.default_rng(0)
    out = []
    for number in range(1000):
        if focus and number % 2:
            params = {"a": 1 + rng.normal(0, 0.05), "b": 2 + rng.normal(0, 0.05), "c": float(np.exp(rng.normal(0, 0.1)))}
        else:
            params = {"a": rng.uniform(0, 4), "b": rng.uniform(0, 4), "c": float(np.exp(rng.uniform(np.log(0.01), np.log(100))))}
        record = TrialRecord(number, f"p{number}", params, (), 0.0)
        record.finish({"status": "completed", "loss": loss(params), "sim_seconds": 0.0}, 1.0)
        out.append(record)
    return out


def test_a_ridge_is_named_with_the_parameters_that_trade_off():
    trials = records(lambda p: (p["a"] - p["b"] - 1) ** 2 + (np.log10(p["c"])) ** 2)
    found = identifiability(trials, SPACE, 0.05)
    assert found["threshold"] == pytest.approx(min(r.loss for r in trials) + 0.1)
    assert found["near_best"] == sum(r.loss <= found["threshold"] for r in trials) >= 8
    assert [c["parameters"] for c in found["correlations"]] == [["a", "b"]] and found["correlations"][0]["r"] > 0.8
    assert len(found["warnings"]) == 1 and found["warnings"][0].startswith("a and b trade off")
    assert found["spread"]["c"] < 0.25  # c (log scale) is pinned down


def test_an_identified_optimum_gives_no_warning_and_a_flat_direction_is_weakly_identified():
    sharp = identifiability(records(lambda p: (p["a"] - 1) ** 2 + (p["b"] - 2) ** 2 + np.log10(p["c"]) ** 2, True), SPACE, 0.01)
    assert sharp["warnings"] == [] and sharp["near_best"] >= 8
    flat = identifiability(records(lambda p: (p["a"] - 1) ** 2 + np.log10(p["c"]) ** 2), SPACE, 0.05)
    assert flat["warnings"] == [f"b is weakly identified: the {flat['near_best']} trials within the noise of the best "
                                f"(loss <= {flat['threshold']:.4g}) span {flat['spread']['b']:.0%} of its range"]  # fmt: skip


def test_without_a_noise_estimate_the_band_is_a_fraction_of_the_way_to_the_median():
    assert near_best_threshold([1.0, 2.0, 3.0, 11.0, 21.0], None) == pytest.approx(1.0 + 0.05 * 2.0)
    assert near_best_threshold([1.0, 2.0, 3.0], 0.5) == pytest.approx(2.0)
    assert near_best_threshold([1.0, 2.0, 3.0], 0.5, best_loss=1.8) == pytest.approx(2.8)  # the confirmed best's


def test_the_summary_of_a_run_on_a_ridge_warns(dask_client, tmp_path):
    write_curve(tmp_path)
    doc = quadratic_doc(model={"entrypoint": "tests.models:ridge"}, budget={"trials": 120},
                        parameters={"a": {"low": 0.0, "high": 4.0}, "b": {"low": 0.0, "high": 4.0}},
                        algorithm={"sampler": "random"})  # fmt: skip
    spec = parse_spec(doc)
    summary = calibrate(spec, preflight(spec, tmp_path), dask_client, run_id="ridge", results_url=str(tmp_path / "o"))
    assert summary["identifiability"]["correlations"][0]["parameters"] == ["a", "b"]
    assert summary["identifiability"]["warnings"][0].startswith("a and b trade off")
