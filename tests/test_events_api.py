"""The events webhook and Event Grid trigger, against the replay driver's durable client.

A tiny orchestrator waits for one `progress` event and returns it, so each test can see what
every run received, and how often.
"""
import asyncio
import json

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.durable_functions.models.history import HistoryEventType as T
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from control_plane.api.events import bp
from control_plane.intake import merge
from tests.durable import ReplayDriver, Status
from tests.durable.client import DurableClientDouble
from tests.progress_events import as_eventgrid, run_events, validation_event

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(bp)


@app.orchestration_trigger(context_name="context")
def await_progress(context: df.DurableOrchestrationContext):
    update = yield context.wait_for_external_event("progress")
    return update


@pytest.fixture
def driver():
    return ReplayDriver(app)


def start(driver, *run_ids):
    for run_id in run_ids:
        driver.start_new("await_progress", run_id)
    driver.drain()


def finish(driver, run_id):
    driver.raise_event(run_id, "progress", {"event_ids": []})
    driver.drain()
    assert driver.get_status(run_id).runtime_status is Status.Completed


def post(body, method="POST", headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return func.HttpRequest(method, "http://localhost:7071/api/events", body=data,
                            headers=headers or {"Content-Type": "application/cloudevents-batch+json",
                                                "aeg-event-type": "Notification"})


def call(driver, name, client=None, **kwargs):
    """Run a client function to the end, with the driver's client double unless given one."""
    if client is None:
        return asyncio.run(driver.call_client(name, **kwargs))
    return asyncio.run(driver.functions.clients[name].fn(client=client, **kwargs))


def answer(response):
    return response.status_code, json.loads(response.get_body())


def raised(driver, run_id):
    """The `progress` events waiting in the instance's inbox or already in its history."""
    instance = driver.instance(run_id)
    every = instance.inbox + [e for h in driver.histories(run_id) for e in h]
    return [e for e in every if e["EventType"] == T.EVENT_RAISED and e["Name"] == "progress"]


def received(driver, run_id):
    """What the orchestrator got: JSON text, since the Python client encodes event data."""
    output = driver.get_status(run_id).output
    assert isinstance(output, str)
    return json.loads(output)


def test_a_delivery_with_two_runs_raises_one_folded_update_per_run(driver):
    start(driver, "run-a", "run-b")
    a = run_events("run-a", losses=(3.0, 1.5, 2.0), end=None)
    b = run_events("run-b", losses=(None, 4.0), end="failed", budget=5)
    delivery = [a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3]]

    status, body = answer(call(driver, "events", req=post(delivery)))
    assert (status, body) == (200, {"accepted": 8, "dropped": 0, "rejected": 0})
    assert len(raised(driver, "run-a")) == len(raised(driver, "run-b")) == 1

    driver.drain()
    got_a, got_b = received(driver, "run-a"), received(driver, "run-b")
    assert sorted(got_a["event_ids"]) == sorted(e["id"] for e in a)
    assert (got_a["done"], got_a["failed"], got_a["budget"], got_a["best_loss"],
            got_a["best_params"], got_a["started"], got_a["terminal"]) == \
        (3, 0, 10, 1.5, {"x": 1}, True, None)
    assert got_a["last_event_at"] == max(e["time"] for e in a)
    assert (got_b["done"], got_b["failed"], got_b["best_loss"], got_b["terminal"],
            got_b["reason"]) == (2, 1, 4.0, "failed", "the simulation crashed")
    assert merge(None, got_b)["terminal"] == "failed"  # what the run orchestrator does with it
    driver.replay_all_recorded()


def test_event_grid_schema_and_a_single_event_are_accepted(driver):
    start(driver, "run-a")
    event = as_eventgrid(run_events("run-a")[-1])
    assert answer(call(driver, "events", req=post(event))) == \
        (200, {"accepted": 1, "dropped": 0, "rejected": 0})
    driver.drain()
    assert received(driver, "run-a")["summary"] == {"trials": 3}


def test_unknown_and_finished_runs_are_dropped_with_200(driver):
    start(driver, "run-live", "run-done")
    finish(driver, "run-done")
    history_before = driver.histories("run-done")
    delivery = run_events("run-done") + run_events("run-nobody") + run_events("run-live", end=None)

    status, body = answer(call(driver, "events", req=post(delivery)))
    assert (status, body) == (200, {"accepted": 4, "dropped": 10, "rejected": 0})
    assert driver.histories("run-done") == history_before
    assert "run-nobody" not in {i.instance_id for i in driver.instances()}
    assert len(raised(driver, "run-live")) == 1


def test_invalid_events_are_counted_and_the_rest_still_delivered(driver):
    start(driver, "run-a")
    good = run_events("run-a", end=None)
    bad = dict(good[1], type="com.example.other")
    status, body = answer(call(driver, "events", req=post([bad, *good[:2], {"no": "schema"}])))
    assert (status, body) == (200, {"accepted": 2, "dropped": 0, "rejected": 2})
    driver.drain()
    assert received(driver, "run-a")["done"] == 1


@pytest.mark.parametrize("body", [b"", b"{not json", b"42"])
def test_a_malformed_body_is_400_problem_json_and_raises_nothing(driver, body):
    start(driver, "run-a")
    response = call(driver, "events", req=post(body))
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    problem = json.loads(response.get_body())
    assert problem["status"] == 400
    assert problem["title"] in ("Malformed event delivery", "The body is not JSON")
    assert raised(driver, "run-a") == []
    driver.drain()
    assert driver.get_status("run-a").runtime_status is Status.Running


def test_the_event_grid_validation_handshake_is_answered(driver):
    response = call(driver, "events", req=post([validation_event("code-1")]))
    assert answer(response) == (200, {"validationResponse": "code-1"})


def test_the_cloudevents_options_handshake_is_answered(driver):
    response = call(driver, "events", req=post(b"", "OPTIONS",
                                               {"WebHook-Request-Origin": "eventgrid.azure.net"}))
    assert response.status_code == 200
    assert response.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    assert response.headers["WebHook-Allowed-Rate"] == "*"
    assert response.headers["Allow"] == "POST"
    refused = call(driver, "events", req=post(b"", "OPTIONS", {}))
    assert refused.status_code == 400


class FinishesFirst(DurableClientDouble):
    """The run completes between our status check and our raise_event (the SDK then says 410)."""

    async def raise_event(self, instance_id, event_name, event_data=None, **kwargs):
        finish(self.driver, instance_id)
        return await super().raise_event(instance_id, event_name, event_data, **kwargs)


class HostError(DurableClientDouble):
    """The host fails to take the event while the run is still live."""

    async def raise_event(self, instance_id, event_name, event_data=None, **kwargs):
        raise Exception("Webhook returned unrecognized status code 500")


def test_a_run_that_finishes_under_us_is_a_logged_drop(driver, caplog):
    start(driver, "run-a")
    with caplog.at_level("INFO", logger="control_plane.api.events"):
        response = call(driver, "events", FinishesFirst(driver), req=post(run_events("run-a")))
    assert answer(response) == (200, {"accepted": 0, "dropped": 5, "rejected": 0})
    assert "progress for run run-a dropped: it is Completed" in caplog.text


def test_any_other_raise_event_failure_is_left_for_event_grid_to_retry(driver):
    start(driver, "run-a")
    with pytest.raises(Exception, match="status code 500"):
        call(driver, "events", HostError(driver), req=post(run_events("run-a")))


def worker_event(body):
    """What the Python worker passes an Event Grid trigger for this event JSON."""
    return EventGridEventInConverter.decode(meta.Datum(json.dumps(body), "json"),
                                            trigger_metadata=None)


@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
def test_the_event_grid_trigger_forwards_one_event(driver, schema):
    start(driver, "run-a")
    sent = run_events("run-a", end=None)[2]
    event = worker_event(as_eventgrid(sent) if schema == "eventgrid" else sent)
    assert isinstance(event, func.EventGridEvent if schema == "eventgrid" else func.CloudEvent)

    assert call(driver, "on_progress_event", event=event) is None
    assert len(raised(driver, "run-a")) == 1
    driver.drain()
    got = received(driver, "run-a")
    assert (got["event_ids"], got["done"], got["best_loss"], got["last_event_at"]) == \
        ([sent["id"]], 2, 1.5, sent["time"])


def test_the_trigger_drops_invalid_events_and_unknown_runs_quietly(driver, caplog):
    start(driver, "run-a")
    invalid = dict(run_events("run-a")[1], specversion="0.3")
    with caplog.at_level("INFO", logger="control_plane.api.events"):
        call(driver, "on_progress_event", event=worker_event(invalid))
        call(driver, "on_progress_event", event=worker_event(run_events("run-nobody")[0]))
    assert raised(driver, "run-a") == []
    assert "specversion must be '1.0'" in caplog.text
    assert "progress for unknown run run-nobody dropped" in caplog.text
