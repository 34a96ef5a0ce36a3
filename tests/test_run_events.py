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


def test_a_webhook_receives_coalesced_snapshots_as_valid_cloudevents_in_batches(dask_client, tmp_path, receiver):
    """A remote sink gets the run's lifecycle events and its newest trial snapshot at most every
    2 s (the control plane makes an orchestration execution of each delivery)."""
    summary = calibrate_with_events(dask_client, tmp_path, [receiver.url])
    assert summary["events"] == {"published": 27, "dropped": 0}  # replaced snapshots count as sent
    batches = receiver.batches()
    events = [event for batch in batches for event in batch]
    assert len({e["id"] for e in events}) == len(events) and len(events) <= 27
    assert all(sum(e["type"] == "modelops.trial.completed" for e in batch) <= 1 for batch in batches)
    for headers, _ in receiver.requests:
        assert headers["aeg-event-type"] == "Notification"
        assert headers["Content-Type"] == "application/cloudevents-batch+json"
    assert all(cloudevent_problems(event) == [] for event in events)
    sequences = [int(e["sequence"]) for e in events]
    assert sequences == sorted(sequences) and sequences[0] == 1 and sequences[-1] == 27
    assert {e["source"] for e in events} == {"/modelops/runs/ev-1"}
    types = [e["type"] for e in events]
    assert types[0] == "modelops.run.started" and types[-1] == "modelops.run.completed"
    assert set(types[1:-1]) == {"modelops.trial.completed"}
    done = [e["data"]["counts"]["done"] for e in events[1:-1]]
    assert done == sorted(done) and done[-1] == 25
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
