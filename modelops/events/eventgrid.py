"""Publish progress events to an Azure Event Grid topic (basic tier, CloudEvents 1.0 schema).

azure-eventgrid 4.22's public `EventGridPublisherClient` hands basic topics
(`https://<topic>.<region>-1.eventgrid.azure.net/api/events`) to the
`azure.eventgrid._legacy` client of the same name but drops every pipeline
keyword on the way, so neither `transport` nor `retry_total` would reach it.
We build that client directly (the pin keeps it stable; a test proves the public
class still delegates to it) and switch off azure-core's retries, because the
`Publisher` owns retrying and must stay within its close deadline.
"""
from __future__ import annotations

import os
from typing import Any

from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.core.messaging import CloudEvent
from azure.core.pipeline.transport import HttpTransport
from azure.eventgrid._legacy import EventGridPublisherClient

from .sinks import SinkError, is_transient_status

KEY_ENV = "MODELOPS_EVENTGRID_KEY"


class EventGridSink:
    """Sends each batch as one Event Grid request.

    Authenticates with the topic access key (`key`, else `MODELOPS_EVENTGRID_KEY`)
    or, without one, with `DefaultAzureCredential` (managed identity in Azure).
    """

    def __init__(self, endpoint: str, *, key: str | None = None, timeout: float = 5.0,
                 transport: HttpTransport | None = None):
        key = key or os.environ.get(KEY_ENV)
        if key:
            credential: Any = AzureKeyCredential(key)
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        pipeline: dict[str, Any] = {"retry_total": 0, "connection_timeout": timeout, "read_timeout": timeout}
        if transport is not None:
            pipeline["transport"] = transport
        self._client = EventGridPublisherClient(endpoint, credential, **pipeline)

    def send(self, batch: list[dict[str, Any]]) -> None:
        try:
            self._client.send([CloudEvent.from_dict(event) for event in batch])
        except HttpResponseError as exc:  # includes authentication failures (no status: permanent)
            raise SinkError(f"Event Grid answered {exc.status_code}: {exc.reason}",
                            transient=is_transient_status(exc.status_code)) from exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise SinkError(f"Event Grid unreachable: {exc}", transient=True) from exc

    def close(self) -> None:
        self._client.close()
