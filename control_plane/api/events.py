"""`/api/events` and the Event Grid trigger: runner progress into each run's orchestration.

Event Grid retries every answer but a 2xx, 400 or 413 for up to a day, so only a malformed
body is an error: events for unknown or finished runs, and a run that finishes under us, are
logged and dropped. A delivery becomes at most one `progress` event per run, which keeps the
orchestration's history small; the orchestrator merges idempotently, so a redelivery after a
transient failure (a 500 here) is harmless.
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from control_plane.intake import (IntakeError, ProgressEvent, abuse_protection_headers,
                                   load_delivery, parse_delivery, summarise, validation_response)

from .bodies import BodyRejected, read_json
from .responses import json_response, problem

bp = df.Blueprint()
log = logging.getLogger(__name__)

PROGRESS_EVENT = "progress"
FINISHED = {df.OrchestrationRuntimeStatus.Completed, df.OrchestrationRuntimeStatus.Failed,
            df.OrchestrationRuntimeStatus.Terminated, df.OrchestrationRuntimeStatus.Canceled}


@bp.route(route="events", methods=["POST", "OPTIONS"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def events(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The Event Grid webhook: both schemas, one event or an array, and both handshakes."""
    try:
        if req.method.upper() == "OPTIONS":
            return func.HttpResponse(status_code=200, headers=abuse_protection_headers(req.headers))
        delivery = load_delivery(read_json(req))
        answer = validation_response(delivery)
        if answer is not None:
            return json_response(answer)
        progress, rejected = parse_delivery(delivery)
    except BodyRejected as rejected:
        return rejected.response
    except IntakeError as exc:
        return problem(400, "Malformed event delivery", str(exc))
    for index, reason in rejected:
        log.warning("event %d of the delivery rejected: %s", index, reason)
    accepted, dropped = await forward_progress(client, progress)
    return json_response({"accepted": accepted, "dropped": dropped, "rejected": len(rejected)})


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def on_progress_event(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    """For subscriptions that use the Functions Event Grid trigger (one event per call).

    The worker hands over a `func.CloudEvent` instead when the subscription delivers the
    CloudEvents schema, whatever the annotation says."""
    progress, rejected = parse_delivery(_as_delivered(event))
    for _, reason in rejected:
        log.warning("event %s rejected: %s", event.id, reason)
    await forward_progress(client, progress)


async def forward_progress(client: df.DurableOrchestrationClient,
                           progress: list[ProgressEvent]) -> tuple[int, int]:
    """One `progress` event per live run; returns how many events were (accepted, dropped)."""
    per_run = Counter(event.run_id for event in progress)
    accepted = dropped = 0
    for run_id, update in summarise(progress).items():
        if await _notify(client, run_id, update):
            accepted += per_run[run_id]
        else:
            dropped += per_run[run_id]
    return accepted, dropped


async def _notify(client: df.DurableOrchestrationClient, run_id: str, update: dict[str, Any]) -> bool:
    status = await client.get_status(run_id)
    if _gone(run_id, status):
        return False
    try:
        await client.raise_event(run_id, PROGRESS_EVENT, update)
    except Exception:
        # The SDK raises a bare Exception for 404 and 410 alike; a run that finished (or was
        # purged) since we looked is an expected drop, anything else is worth a retry.
        if not _gone(run_id, await client.get_status(run_id)):
            raise
        return False
    return True


def _gone(run_id: str, status: Any) -> bool:
    """True (and logged) when the run is unknown or finished."""
    if not status:
        log.info("progress for unknown run %s dropped", run_id)
        return True
    if status.runtime_status in FINISHED:
        log.info("progress for run %s dropped: it is %s", run_id, status.runtime_status.value)
        return True
    return False


def _as_delivered(event: func.EventGridEvent | func.CloudEvent) -> dict[str, Any]:
    """The event as JSON again, so the trigger and the webhook validate the same way."""
    if isinstance(event, func.CloudEvent):
        body = {"specversion": event.specversion, "id": event.id, "source": event.source,
                "type": event.type, "time": _iso(event.time), "subject": event.subject,
                "datacontenttype": event.datacontenttype, "dataschema": event.dataschema,
                "data": event.get_json(), **event.extension_attrs}
    else:
        body = {"id": event.id, "topic": event.topic, "subject": event.subject,
                "eventType": event.event_type, "eventTime": _iso(event.event_time),
                "data": event.get_json(), "dataVersion": event.data_version}
    return {key: value for key, value in body.items() if value is not None}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
