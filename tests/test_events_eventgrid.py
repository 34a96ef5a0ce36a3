"""The Event Grid sink through the real azure-eventgrid client, on a recording azure-core transport."""
import json
import time
from datetime import datetime

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.pipeline.transport import HttpResponse, HttpTransport

import azure.eventgrid
from azure.eventgrid._legacy import EventGridPublisherClient as BasicTopicClient
from modelops.events import ProgressEvents, Publisher, open_sink
from modelops.events.eventgrid import KEY_ENV, EventGridSink
from tests.test_events_cloudevents import cloudevent_problems

TOPIC = "https://progress.westeurope-1.eventgrid.azure.net/api/events"


class Answer(HttpResponse):
    def __init__(self, request, status):
        super().__init__(request, None)
        self.status_code = status
        self.reason = "OK" if status == 200 else "Service Unavailable"
        self.headers = {"Content-Type": "application/json"}
        self.content_type = "application/json"

    def body(self):
        return b""


class RecordingTransport(HttpTransport):
    """Stands in for the network: records each request, answers `statuses` in turn, then 200."""

    def __init__(self, statuses=()):
        self.requests = []
        self._statuses = list(statuses)

    def send(self, request, **kwargs):
        self.requests.append(request)
        return Answer(request, self._statuses.pop(0) if self._statuses else 200)

    def open(self):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *args):
        pass


def a_run(trials):
    events = ProgressEvents("calib-eg", budget=trials)
    out = [events.run_started(algorithm="cmaes")]
    out += [events.trial_completed(n, f"p{n}", {"x": n}, float(n)) for n in range(trials)]
    return out + [events.run_completed({"trials": trials})]


@pytest.fixture(autouse=True)
def no_ambient_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


def as_sent(events):
    """Events with `time` as an instant: azure-core re-serialises it (trailing zeros go)."""
    return [{**event, "time": datetime.fromisoformat(event["time"])} for event in events]


def publish_all(sink, events, **options):
    publisher = Publisher(sink, **options)  # close() flushes at once
    for event in events:
        publisher.publish(event)
    return publisher.close(timeout=5)


def test_events_reach_the_topic_as_a_cloudevents_batch_with_the_access_key():
    transport = RecordingTransport()
    sink = open_sink(TOPIC, key="topic-key", transport=transport)
    assert isinstance(sink, EventGridSink)
    events = a_run(4)
    assert publish_all(sink, events) == {"published": 6, "dropped": 0, "batches": 1}

    [request] = transport.requests
    assert request.method == "POST"
    assert request.url.split("?")[0] == TOPIC
    assert "api-version=2018-01-01" in request.url
    assert request.headers["aeg-sas-key"] == "topic-key"
    assert request.headers["Content-Type"].startswith("application/cloudevents-batch+json")
    body = json.loads(request.body)
    assert as_sent(body) == as_sent(events)
    for event in body:
        assert cloudevent_problems(event) == []


def test_the_access_key_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "env-key")
    transport = RecordingTransport()
    publish_all(open_sink(TOPIC, transport=transport), a_run(1))
    assert transport.requests[0].headers["aeg-sas-key"] == "env-key"


def test_a_503_from_event_grid_is_retried_by_the_publisher():
    transport = RecordingTransport(statuses=[503])
    events = a_run(2)
    stats = publish_all(open_sink(TOPIC, key="k", transport=transport), events, backoff=0.05)
    assert stats == {"published": 4, "dropped": 0, "batches": 1}
    assert len(transport.requests) == 2  # azure-core's own retries are off: ours decide
    first, second = (json.loads(request.body) for request in transport.requests)
    assert first == second and as_sent(first) == as_sent(events)


def test_without_a_key_it_uses_default_azure_credential_and_survives_its_failure(monkeypatch):
    # Narrow DefaultAzureCredential to the (unconfigured) environment credential so it fails at once.
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH"):
        monkeypatch.delenv(name, raising=False)
    transport = RecordingTransport()
    started = time.monotonic()
    stats = publish_all(open_sink(TOPIC, transport=transport), a_run(1))
    assert stats == {"published": 0, "dropped": 3, "batches": 0}
    assert transport.requests == []  # no token, so nothing is sent; and no key was ever sent
    assert time.monotonic() - started < 3


def test_the_public_client_still_delegates_basic_topics_to_the_client_we_use():
    # eventgrid.py relies on this (see its docstring); a version bump that changes it must fail here.
    client = azure.eventgrid.EventGridPublisherClient(TOPIC, AzureKeyCredential("k"))
    assert type(client._client) is BasicTopicClient
