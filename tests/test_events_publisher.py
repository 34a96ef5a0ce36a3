"""Publisher and sinks against real receivers: an HTTP server on 127.0.0.1, files, a console."""
import io
import json
import socket
import time

import pytest

from modelops.events import ProgressEvents, Publisher, open_sink
from modelops.events.sinks import ConsoleSink, JsonlSink, NullSink, WebhookSink, is_transient_status
from tests.event_receiver import Receiver
from tests.test_events_cloudevents import cloudevent_problems


@pytest.fixture
def receiver_factory():
    receivers = []

    def make(**kwargs):
        receivers.append(Receiver(**kwargs))
        return receivers[-1]

    yield make
    for receiver in receivers:
        receiver.close()


def a_run(trials, budget=None):
    events = ProgressEvents("calib-7", budget=budget or trials)
    out = [events.run_started(algorithm="optuna")]
    for n in range(trials):
        failed = n % 10 == 9
        out.append(events.trial_completed(n, f"p{n}", {"x": n / 10}, None if failed else 1 / (n + 1),
                                          status="failed" if failed else "ok"))
    return out + [events.run_completed({"trials": trials})]


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webhook_receives_every_event_once_in_order_in_batches(receiver_factory):
    receiver = receiver_factory()
    events = a_run(150)
    publisher = Publisher(open_sink(receiver.url), flush_interval=0.2)
    for event in events:
        assert publisher.publish(event)
    stats = publisher.close(timeout=5)

    batches = receiver.batches()
    assert stats == {"published": len(events), "dropped": 0, "batches": len(batches)}
    assert len(batches) >= 2 and max(map(len, batches)) > 1 and max(map(len, batches)) <= 100
    received = [event for batch in batches for event in batch]
    assert [e["id"] for e in received] == [e["id"] for e in events]  # each once, in order
    assert [int(e["sequence"]) for e in received] == list(range(1, len(events) + 1))
    assert received == events
    for event in received:
        assert cloudevent_problems(event) == []
    for headers, _ in receiver.requests:
        assert headers["Content-Type"] == "application/cloudevents-batch+json"
        assert headers["aeg-event-type"] == "Notification"


def test_unreachable_webhook_drops_everything_quickly_and_quietly():
    publisher = Publisher(open_sink(f"http://127.0.0.1:{closed_port()}/api/events"))  # default retries
    started = time.monotonic()
    for event in a_run(48):
        publisher.publish(event)
    assert time.monotonic() - started < 0.5  # publishing never waits for the sink
    stats = publisher.close(timeout=2)
    assert time.monotonic() - started < 3
    assert stats == {"published": 0, "dropped": 50, "batches": 0}


def test_transient_failures_are_retried_until_delivered(receiver_factory):
    receiver = receiver_factory(statuses=[503, 503])
    events = a_run(3)
    publisher = Publisher(open_sink(receiver.url), backoff=0.05)  # close() flushes at once
    for event in events:
        publisher.publish(event)
    assert publisher.close(timeout=5) == {"published": 5, "dropped": 0, "batches": 1}
    assert receiver.batches() == [events] * 3


def test_permanent_failures_are_dropped_without_retry(receiver_factory):
    receiver = receiver_factory(default=400)
    publisher = Publisher(open_sink(receiver.url), backoff=0.05)  # close() flushes at once
    for event in a_run(3):
        publisher.publish(event)
    assert publisher.close(timeout=5) == {"published": 0, "dropped": 5, "batches": 0}
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status, transient", [
    (408, True), (429, True), (500, True), (502, True), (503, True), (504, True),
    (400, False), (401, False), (403, False), (404, False), (409, False), (413, False), (None, False),
])
def test_which_statuses_are_worth_a_retry(status, transient):
    assert is_transient_status(status) is transient


def test_a_full_queue_drops_and_counts_without_blocking(receiver_factory):
    receiver = receiver_factory(hold=True)
    publisher = Publisher(open_sink(receiver.url), max_queue=10, max_batch=5, flush_interval=0.05)
    events = a_run(20)
    assert publisher.publish(events[0])
    assert receiver.arrived.wait(5)  # the worker is now stuck sending that one event
    started = time.monotonic()
    accepted = [publisher.publish(event) for event in events[1:16]]
    assert time.monotonic() - started < 0.1
    assert accepted == [True] * 10 + [False] * 5
    receiver.release()
    assert publisher.close(timeout=5) == {"published": 11, "dropped": 5, "batches": 3}
    assert [e["id"] for batch in receiver.batches() for e in batch] == [e["id"] for e in events[:11]]


def test_close_gives_up_on_a_stuck_sink_and_counts_what_is_left(receiver_factory):
    receiver = receiver_factory(hold=True)
    publisher = Publisher(open_sink(receiver.url, timeout=3), flush_interval=0.05)
    for event in a_run(3):
        publisher.publish(event)
    assert receiver.arrived.wait(5)
    publisher.publish({"late": True})
    started = time.monotonic()
    assert publisher.close(timeout=0.3) == {"published": 0, "dropped": 6, "batches": 0}
    assert time.monotonic() - started < 1
    receiver.release()
    publisher._thread.join(30)  # the send that finishes after giving up is not counted twice
    assert not publisher._thread.is_alive()
    assert publisher.stats() == {"published": 0, "dropped": 6, "batches": 0}


def test_publishing_after_close_is_dropped():
    publisher = Publisher(open_sink(None))
    assert publisher.publish(a_run(1)[0])
    assert publisher.close(timeout=1) == {"published": 1, "dropped": 0, "batches": 1}
    assert not publisher.publish(a_run(1)[0])
    assert publisher.close(timeout=1) == {"published": 1, "dropped": 1, "batches": 1}


def test_jsonl_round_trip_appends(tmp_path):
    path = tmp_path / "runs" / "events.jsonl"
    first, second = a_run(4), a_run(2)
    for url, events in ((str(path), first), (path.as_uri(), second)):
        with Publisher(open_sink(url), flush_interval=0.05) as publisher:
            for event in events:
                publisher.publish(event)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == first + second


def test_console_shows_progress_bar_failures_and_best_loss():
    stream = io.StringIO()
    with Publisher(open_sink("console", stream=stream), flush_interval=0.05) as publisher:
        for event in a_run(12, budget=20):
            publisher.publish(event)
    shown = stream.getvalue()  # not a terminal: plain lines, the last one the final state
    assert "━" not in shown and "\r" not in shown and len(shown.splitlines()) >= 3
    last = shown.splitlines()[-1]
    assert "calib-7 completed" in last and "12/20" in last and "failed 1" in last and "best 0.0833333" in last


def test_console_in_a_terminal_draws_a_bar():
    stream = io.StringIO()
    sink = ConsoleSink(stream=stream, force_terminal=True)
    with Publisher(sink, flush_interval=0.05) as publisher:
        for event in a_run(12, budget=20):
            publisher.publish(event)
    assert "━" in stream.getvalue() and "calib-7 completed" in stream.getvalue()


@pytest.mark.parametrize("url, kind", [
    (None, NullSink), ("", NullSink), ("console", ConsoleSink), ("console:", ConsoleSink),
    ("out/events.jsonl", JsonlSink), ("file:///var/tmp/events.jsonl", JsonlSink),
    ("http://localhost:7071/runtime/webhooks/eventgrid?functionName=progress", WebhookSink),
    ("https://hooks.example.org/progress", WebhookSink),
])
def test_the_url_chooses_the_sink(url, kind):
    sink = open_sink(url)
    assert type(sink) is kind
    if url and url.startswith("file:"):
        assert str(sink.path) == "/var/tmp/events.jsonl"


@pytest.mark.parametrize("url", ["s3://bucket/events", "file://host/events.jsonl"])
def test_unknown_urls_are_refused(url):
    with pytest.raises(ValueError):
        open_sink(url)


def test_coalescing_sends_the_newest_trial_snapshot_and_reports_every_event_delivered(receiver_factory):
    from modelops.events.publisher import trial_snapshot_key

    receiver = receiver_factory()
    events = ProgressEvents("run-c", 50)
    delivered = []
    publisher = Publisher(open_sink(receiver.url), flush_interval=30, coalesce=trial_snapshot_key,
                          on_delivered=delivered.extend)  # fmt: skip
    publisher.publish(events.run_started(algorithm="optuna"))
    trials = [events.trial_completed(n, f"p{n}", {"x": n}, 1.0 / (n + 1), "ok") for n in range(40)]
    for event in trials:
        publisher.publish(event)
    publisher.publish(events.run_completed({"n_trials": 40}))
    assert publisher.close(timeout=5) == {"published": 42, "dropped": 0, "batches": 1}
    (batch,) = receiver.batches()
    assert [e["type"] for e in batch] == ["modelops.run.started", "modelops.trial.completed", "modelops.run.completed"]
    assert batch[1]["id"] == trials[-1]["id"] and batch[1]["data"]["counts"]["done"] == 40
    assert sorted(e["id"] for e in delivered) == sorted(e["id"] for e in [*trials, batch[0], batch[2]])
