"""The progress event model, checked against the CloudEvents 1.0 rules.

`cloudevent_problems` is the spec check the sink tests reuse on what arrives.
"""
import json
import re

import numpy as np
import pytest

from modelops.events import (
    EVENT_TYPES,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_STARTED,
    TRIAL_COMPLETED,
    ProgressEvents,
)
from modelops.events.cloudevents import to_json

REQUIRED = ("id", "source", "specversion", "type")
OPTIONAL = {"datacontenttype", "dataschema", "subject", "time"}
NOT_ATTRIBUTES = {"data", "data_base64"}  # JSON members that carry the payload
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
MEDIA_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+\"-]+)*")
URI_REFERENCE = re.compile(r"([A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
INT32 = range(-(2**31), 2**31)


def cloudevent_problems(event: dict) -> list[str]:
    """Every way `event` breaks CloudEvents 1.0 (core spec + JSON format); [] if valid."""
    problems = []
    for name in REQUIRED:
        if not isinstance(event.get(name), str) or not event[name]:
            problems.append(f"{name} is required and must be a non-empty string")
    if event.get("specversion") != "1.0":
        problems.append("specversion must be '1.0'")
    if isinstance(event.get("source"), str) and not URI_REFERENCE.fullmatch(event["source"]):
        problems.append("source must be a URI-reference")
    if "time" in event and not (isinstance(event["time"], str) and RFC3339.fullmatch(event["time"])):
        problems.append("time must be an RFC 3339 timestamp")
    if "datacontenttype" in event and not (
        isinstance(event["datacontenttype"], str) and MEDIA_TYPE.fullmatch(event["datacontenttype"])
    ):
        problems.append("datacontenttype must be an RFC 2046 media type")
    for name in ("subject", "dataschema"):
        if name in event and (not isinstance(event[name], str) or not event[name]):
            problems.append(f"{name} must be a non-empty string when present")
    if "data" in event and "data_base64" in event:
        problems.append("data and data_base64 are mutually exclusive")
    for name, value in event.items():
        if name in NOT_ATTRIBUTES:
            continue
        if not re.fullmatch(r"[a-z0-9]+", name):
            problems.append(f"attribute name {name!r} must be lowercase letters and digits")
        if len(name) > 20:
            problems.append(f"attribute name {name!r} should be at most 20 characters")
        if name not in REQUIRED and name not in OPTIONAL:
            is_int = isinstance(value, int) and not isinstance(value, bool)
            if not (isinstance(value, (str, bool)) or (is_int and value in INT32)):
                problems.append(f"extension {name!r} must be a string, boolean or 32-bit integer")
    if "sequence" in event and (not isinstance(event["sequence"], str) or not event["sequence"]):
        problems.append("the documented sequence extension is a non-empty string")
    if event.get("datacontenttype") == "application/json":
        try:
            json.loads(json.dumps(event.get("data"), allow_nan=False))
        except (TypeError, ValueError) as exc:
            problems.append(f"data must be strict JSON: {exc}")
    return problems


def a_run():
    events = ProgressEvents("calib-42", budget=5)
    return events, [
        events.run_started(algorithm="optuna", target="sir"),
        events.trial_completed(0, "p0", {"beta": 0.3}, 2.5),
        events.trial_completed(1, "p1", {"beta": 0.4}, None, status="failed"),
        events.trial_completed(2, "p2", {"beta": 0.5}, 1.25),
        events.trial_completed(3, "p3", {"beta": 0.6}, float("nan")),
        events.trial_completed(4, "p4", {"beta": 0.7}, 1.75),
        events.run_completed({"best_loss": 1.25, "trials": 5}),
    ]


def test_every_event_is_a_valid_cloudevent():
    _, events = a_run()
    for event in events + [ProgressEvents("r", 1).run_failed("simulation crashed")]:
        assert cloudevent_problems(event) == []
        assert cloudevent_problems(json.loads(to_json(event))) == []


def test_the_check_catches_broken_events():
    _, events = a_run()
    good = events[1]
    broken = [
        {k: v for k, v in good.items() if k != "id"},
        {**good, "specversion": "0.3"},
        {**good, "time": "yesterday"},
        {**good, "runId": "x"},
        {**good, "score": 0.5},
        {**good, "sequence": 2},
        {**good, "source": "has spaces"},
        {**good, "data": {"loss": float("nan")}},
    ]
    for event in broken:
        assert cloudevent_problems(event), event


def test_attributes_identify_the_run_and_order_its_events():
    _, events = a_run()
    assert [e["type"] for e in events] == [RUN_STARTED] + [TRIAL_COMPLETED] * 5 + [RUN_COMPLETED]
    assert set(EVENT_TYPES) == {RUN_STARTED, TRIAL_COMPLETED, RUN_COMPLETED, RUN_FAILED}
    assert {e["source"] for e in events} == {"/modelops/runs/calib-42"}
    assert {e["runid"] for e in events} == {"calib-42"}
    assert {e["datacontenttype"] for e in events} == {"application/json"}
    assert len({e["id"] for e in events}) == len(events)
    assert all(re.fullmatch(r"[0-9a-f]{32}", e["id"]) for e in events)
    assert all(e["time"].endswith("Z") for e in events)
    sequences = [e["sequence"] for e in events]
    assert [int(s) for s in sequences] == list(range(1, len(events) + 1))
    assert sequences == sorted(sequences)  # string order is numeric order
    assert "subject" not in events[0] and events[2]["subject"] == "trial/1"


def test_trial_data_carries_counts_best_so_far_and_the_trial():
    _, events = a_run()
    started, t0, t1, t2, t3, t4, completed = (e["data"] for e in events)
    assert started == {
        "counts": {"done": 0, "failed": 0, "budget": 5},
        "best_loss": None,
        "best_params": None,
        "run": {"algorithm": "optuna", "target": "sir"},
    }
    assert t0["trial"] == {"number": 0, "param_id": "p0", "loss": 2.5, "status": "ok", "params": {"beta": 0.3}}
    assert (t0["best_loss"], t0["best_params"]) == (2.5, {"beta": 0.3})
    assert t1["counts"] == {"done": 2, "failed": 1, "budget": 5}
    assert t1["trial"]["status"] == "failed" and t1["best_loss"] == 2.5
    assert (t2["best_loss"], t2["best_params"]) == (1.25, {"beta": 0.5})
    assert t3["trial"]["loss"] is None and t3["best_loss"] == 1.25  # NaN is no loss, not a best
    assert (t4["best_loss"], t4["best_params"]) == (1.25, {"beta": 0.5})
    assert completed["counts"] == {"done": 5, "failed": 1, "budget": 5}
    assert completed["summary"] == {"best_loss": 1.25, "trials": 5}


def test_run_failed_keeps_the_progress_so_far():
    events = ProgressEvents("r", budget=3)
    events.trial_completed(0, "p0", {"a": 1}, 0.5)
    failed = events.run_failed("worker lost")
    assert failed["type"] == RUN_FAILED and failed["sequence"] == "0000000002"
    assert failed["data"]["reason"] == "worker lost"
    assert failed["data"]["counts"] == {"done": 1, "failed": 0, "budget": 3}


def test_numpy_values_serialise_as_plain_json():
    events = ProgressEvents("r", budget=np.int64(3))
    event = events.trial_completed(np.int64(0), "p0", {"beta": np.float32(0.5), "n": np.int64(7)}, np.float64(0.25))
    data = json.loads(to_json(event))["data"]
    assert data["trial"] == {"number": 0, "param_id": "p0", "loss": 0.25, "status": "ok", "params": {"beta": 0.5, "n": 7}}
    assert data["counts"]["budget"] == 3


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError):
        ProgressEvents("", budget=1)
    with pytest.raises(ValueError):
        ProgressEvents("r", budget=1).trial_completed(0, "p0", {}, 1.0, status="pruned")
