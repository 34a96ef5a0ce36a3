"""Where progress events go, chosen by one URL (see the package docstring).

A sink sends one batch per call and raises `SinkError` saying whether a retry
could help; the `Publisher` owns batching, retrying and counting.
"""
from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from rich.console import Console
from ..progress_bar import progress_bar

from .cloudevents import RUN_COMPLETED, RUN_FAILED, to_json

BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
EVENTGRID_HOST_SUFFIX = ".eventgrid.azure.net"


class SinkError(Exception):
    """A failed send; `transient` says whether the same batch may succeed later."""

    def __init__(self, message: str, *, transient: bool):
        super().__init__(message)
        self.transient = transient


def is_transient_status(status: int | None) -> bool:
    """Timeouts, throttling and server errors are worth a retry; other 4xx are not."""
    return status is not None and (status in (408, 429) or status >= 500)


class Sink(Protocol):
    def send(self, batch: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


class NullSink:
    """No URL configured: events are accepted and forgotten."""

    def send(self, batch: list[dict[str, Any]]) -> None:
        pass

    def close(self) -> None:
        pass


class JsonlSink:
    """Appends one CloudEvent per line; opened per batch so rotation or deletion is harmless."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def send(self, batch: list[dict[str, Any]]) -> None:
        lines = "".join(to_json(event) + "\n" for event in batch)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(lines)
            stream.flush()

    def close(self) -> None:
        pass


class WebhookSink:
    """POSTs a CloudEvents JSON batch, as Event Grid delivers to a Functions webhook.

    `aeg-event-type: Notification` is what a Functions host's Event Grid
    webhook endpoint requires before it accepts a delivery.
    """

    def __init__(self, url: str, *, timeout: float = 3.0):
        self.url = url
        self.timeout = timeout

    def send(self, batch: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            self.url,
            data=to_json(batch).encode("utf-8"),
            method="POST",
            headers={"Content-Type": BATCH_CONTENT_TYPE, "aeg-event-type": "Notification"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            raise SinkError(f"webhook answered HTTP {exc.code}", transient=is_transient_status(exc.code)) from exc
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, garbled
            raise SinkError(f"webhook unreachable: {exc}", transient=True) from exc

    def close(self) -> None:
        pass


class ConsoleSink:
    """Progress on stderr: done/budget, failed count, best loss (a live bar in a terminal, else lines)."""

    def __init__(self, *, stream: TextIO | None = None, force_terminal: bool | None = None):
        console = Console(file=stream, stderr=stream is None, force_terminal=force_terminal)
        self._progress = progress_bar(console)
        self._tasks: dict[str, Any] = {}

    def send(self, batch: list[dict[str, Any]]) -> None:
        for event in batch:
            self._show(event)

    def _show(self, event: dict[str, Any]) -> None:
        run_id, data = event["runid"], event["data"]
        counts, best = data["counts"], data["best_loss"]
        if run_id not in self._tasks:
            self._progress.start()
            self._tasks[run_id] = self._progress.add_task(run_id, total=counts["budget"], failed=0, best="-")
        task = self._tasks[run_id]
        description = run_id
        if event["type"] == RUN_COMPLETED:
            description = f"{run_id} completed"
        elif event["type"] == RUN_FAILED:
            description = f"{run_id} failed: {data['reason']}"
        self._progress.update(
            task,
            description=description,
            completed=counts["done"],
            failed=counts["failed"],
            best="-" if best is None else f"{best:.6g}",
        )

    def close(self) -> None:
        self._progress.stop()


def open_sink(url: str | None, **options: Any) -> Sink:
    """The sink for `url`; `options` go to that sink's constructor."""
    if not url:
        return NullSink(**options)
    if url in ("console", "console:"):
        return ConsoleSink(**options)
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        if (parts.hostname or "").endswith(EVENTGRID_HOST_SUFFIX):
            from .eventgrid import EventGridSink  # azure-eventgrid is a `runner` extra

            return EventGridSink(url, **options)
        return WebhookSink(url, **options)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file URL must be absolute (file:///path/events.jsonl), got {url!r}")
        return JsonlSink(url2pathname(parts.path), **options)
    if len(parts.scheme) <= 1:  # a plain path (a Windows drive letter parses as a scheme)
        return JsonlSink(url, **options)
    raise ValueError(f"unsupported event sink URL {url!r}: use console, a path, file://, http(s):// or Event Grid")
