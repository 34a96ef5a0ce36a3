"""Calibration progress as CloudEvents 1.0, delivered without ever blocking the run.

    events = ProgressEvents(run_id, budget)        # pure builder of dict CloudEvents
    with Publisher(open_sink(url)) as publisher:   # background batching and retries
        publisher.publish(events.run_started(algorithm="optuna"))
        ...

Sink URL forms accepted by `open_sink(url, **options)`:

- `None` or `""`: no-op.
- `console` or `console:`: a live progress line on stderr (option `stream`).
- a path, or `file:///abs/path/events.jsonl`: JSONL, one event per line, appended.
- `http://...` or `https://...`: webhook POST of a JSON array of events with
  `Content-Type: application/cloudevents-batch+json` and `aeg-event-type: Notification`,
  as a Functions host's Event Grid webhook expects (option `timeout`).
- `https://<topic>.<region>-1.eventgrid.azure.net/api/events` (any host ending in
  `.eventgrid.azure.net`): an Azure Event Grid topic, with the access key from option
  `key` or env `MODELOPS_EVENTGRID_KEY`, else `DefaultAzureCredential` (options `timeout`,
  `transport`); needs the `runner` extra.
"""
from .cloudevents import (
    EVENT_TYPES,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_STARTED,
    TRIAL_COMPLETED,
    TRIAL_FAILED,
    TRIAL_OK,
    ProgressEvents,
)
from .publisher import Publisher
from .sinks import SinkError, open_sink

__all__ = [
    "EVENT_TYPES",
    "RUN_COMPLETED",
    "RUN_FAILED",
    "RUN_STARTED",
    "TRIAL_COMPLETED",
    "TRIAL_FAILED",
    "TRIAL_OK",
    "ProgressEvents",
    "Publisher",
    "SinkError",
    "open_sink",
]
