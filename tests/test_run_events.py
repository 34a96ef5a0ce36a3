"""A calibration's progress events, end to end to a webhook (as a local Functions host receives them)."""

import socket

import pytest

from modelops.spec import parse_spec, preflight
from runner.calibrate import calibrate
from tests.documents import quadratic_doc, write_curve
from tests.event_receiver import Receiver
from tests.test_events_cloudevents import cloudevent_problems


def calibrate_with_events(client, tmp_path, events, trials=25):
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc(budget={"trials": trials}))
    return calibrate(
        spec, preflight(spec, tmp_path), client, run_id="ev-1", results_url=str(tmp_path / "out"), events=events
    )


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def test_a_webhook_receives_every_event_once_as_valid_cloudevents_in_batches(dask_client, tmp_path, receiver):
    summary = calibrate_with_events(dask_client, tmp_path, [receiver.url])
    assert summary["events"] == {"published": 27, "dropped": 0}
    batches = receiver.batches()
    events = [event for batch in batches for event in batch]
    assert len(events) == 27 and len({e["id"] for e in events}) == 27
    assert len(batches) < len(events)  # batched, not one request per event
    for headers, _ in receiver.requests:
        assert headers["aeg-event-type"] == "Notification"
        assert headers["Content-Type"] == "application/cloudevents-batch+json"
    assert all(cloudevent_problems(event) == [] for event in events)
    assert [int(e["sequence"]) for e in events] == list(range(1, 28))
    assert {e["source"] for e in events} == {"/modelops/runs/ev-1"}
    types = [e["type"] for e in events]
    assert types == ["modelops.run.started"] + ["modelops.trial.completed"] * 25 + ["modelops.run.completed"]
    last_trial = events[-2]["data"]
    assert last_trial["counts"] == {"done": 25, "failed": 0, "budget": 25}
    assert last_trial["best_loss"] == summary["best_loss"] and last_trial["best_params"] == summary["best_params"]
    assert {"number", "param_id", "loss", "status", "params"} <= set(last_trial["trial"])
    assert events[-1]["data"]["summary"]["best_loss"] == summary["best_loss"]


def test_a_sink_that_is_down_costs_events_not_the_calibration(dask_client, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    summary = calibrate_with_events(dask_client, tmp_path, [f"http://127.0.0.1:{closed_port}/events"], trials=10)
    assert summary["status"] == "completed" and summary["n_trials"] == 10
    assert summary["events"] == {"published": 0, "dropped": 12}
