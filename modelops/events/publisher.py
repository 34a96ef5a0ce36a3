"""Background, bounded, lossy delivery of events to one sink.

Progress reporting must never slow down, stall or crash a calibration, so
`publish` only appends to a bounded buffer (dropping when full) and a daemon
thread batches, sends and retries. Every accepted event ends up counted as
published or dropped, which `close` reports.

A control plane makes one orchestration execution of every event its Event Grid
trigger receives (and of every webhook delivery), so `control_plane_options` makes
remote sinks coalesce: a pending trial event is replaced by the newer one of its run
(each carries the run's full snapshot), and a delivery goes at most every
`CONTROL_PLANE_INTERVAL` seconds. A replaced event counts as published when the one
that replaced it is, and `on_delivered` hears of both; per-trial detail is in the results.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .cloudevents import TRIAL_COMPLETED
from .sinks import Sink, SinkError

log = logging.getLogger(__name__)

# At most one delivery per run this often: with one event per trigger call that is at most
# one orchestration execution per 2 s of run time, and status at most ~2 s behind (plus delivery).
CONTROL_PLANE_INTERVAL = 2.0


def trial_snapshot_key(event: dict[str, Any]) -> str | None:
    """Trial events of one run supersede each other (the newest snapshot is what counts)."""
    return event.get("source") if event.get("type") == TRIAL_COMPLETED else None


def control_plane_options(url: str | None) -> dict[str, Any]:
    """Publisher options for a sink URL: remote sinks (webhook, Event Grid) coalesce."""
    if url and url.startswith(("http://", "https://")):
        return {"flush_interval": CONTROL_PLANE_INTERVAL, "coalesce": trial_snapshot_key}
    return {}


class Publisher:
    """Sends events to `sink` in batches of at most `max_batch`, at least every `flush_interval` s.

    A transient `SinkError` is retried up to `retries` times, sleeping
    `backoff`, 2*`backoff`, ... (capped at `max_backoff`); anything else drops the batch.
    `on_delivered(batch)` is called (on the sending thread) for each batch the sink took.
    With `coalesce(event) -> key | None`, a new event replaces the pending one of the same key.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        max_queue: int = 10_000,
        max_batch: int = 100,
        flush_interval: float = 0.5,
        retries: int = 4,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        on_delivered: Callable[[list[dict[str, Any]]], None] | None = None,
        coalesce: Callable[[dict[str, Any]], str | None] | None = None,
    ):
        self._sink = sink
        self._on_delivered = on_delivered
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._flush_interval = flush_interval
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._cond = threading.Condition()
        self._pending: deque[dict[str, Any]] = deque()
        self._coalesce = coalesce
        self._latest: dict[str, dict[str, Any]] = {}  # coalescing key -> its pending event
        self._folded: dict[int, list[dict[str, Any]]] = {}  # id(pending event) -> events it replaced
        self._in_flight = 0
        self._published = self._dropped = self._batches = 0
        self._closing = False
        self._abandoned = False
        self._deadline: float | None = None
        self._thread = threading.Thread(target=self._run, name="modelops-events", daemon=True)
        self._thread.start()

    def publish(self, event: dict[str, Any]) -> bool:
        """Queue `event`; False (and counted as dropped) if closed or the queue is full."""
        with self._cond:
            if self._closing or len(self._pending) >= self._max_queue:
                self._dropped += 1
                return False
            key = self._coalesce(event) if self._coalesce is not None else None
            if key is not None and key in self._latest:
                self._replace(self._latest[key], event)
                self._latest[key] = event
                return True
            if key is not None:
                self._latest[key] = event
            self._pending.append(event)
            if len(self._pending) in (1, self._max_batch):
                self._cond.notify_all()
            return True

    def _replace(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        index = next(i for i, pending in enumerate(self._pending) if pending is old)
        self._pending[index] = new
        self._folded[id(new)] = self._folded.pop(id(old), []) + [old]

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {"published": self._published, "dropped": self._dropped, "batches": self._batches}

    def close(self, timeout: float = 5.0) -> dict[str, int]:
        """Flush what can be sent within `timeout` seconds; the rest counts as dropped."""
        with self._cond:
            if not self._closing:
                self._closing = True
                self._deadline = time.monotonic() + timeout
                self._cond.notify_all()
            deadline = self._deadline
        self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            if self._thread.is_alive() and not self._abandoned:
                # A send is stuck past the deadline: account for everything unsent now,
                # and let the daemon thread finish quietly without counting again.
                self._abandoned = True
                self._dropped += len(self._pending) + sum(map(len, self._folded.values())) + self._in_flight
                self._pending.clear()
                self._folded.clear()
                self._in_flight = 0
        return self.stats()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            while batch := self._take_batch():
                self._deliver(*batch)
        finally:
            try:
                self._sink.close()
            except Exception:
                log.warning("closing the event sink failed", exc_info=True)

    def _take_batch(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        """Wait for a first event, then up to `flush_interval` for a full batch: (the batch, the
        events its events replaced), None when done."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending or self._closing)
            if self._abandoned or not self._pending:
                return None
            self._cond.wait_for(
                lambda: len(self._pending) >= self._max_batch or self._closing, timeout=self._flush_interval
            )
            batch = [self._pending.popleft() for _ in range(min(self._max_batch, len(self._pending)))]
            folded = []
            for event in batch:
                key = self._coalesce(event) if self._coalesce is not None else None
                if key is not None and self._latest.get(key) is event:
                    del self._latest[key]
                folded += self._folded.pop(id(event), [])  # sent as part of their successor
            self._in_flight = len(batch) + len(folded)
            return batch, folded

    def _deliver(self, batch: list[dict[str, Any]], folded: list[dict[str, Any]]) -> None:
        for attempt in range(self._retries + 1):
            try:
                self._sink.send(batch)
            except SinkError as exc:
                delay = min(self._backoff * 2**attempt, self._max_backoff)
                if exc.transient and attempt < self._retries and self._sleep(delay):
                    log.debug("event batch send failed (%s); retrying in %.2f s", exc, delay)
                    continue
                log.warning("dropping %d progress events: %s", len(batch), exc)
            except Exception:
                log.warning("dropping %d progress events: sink failed", len(batch), exc_info=True)
            else:
                self._settle(len(batch) + len(folded), delivered=True)
                if self._on_delivered is not None:
                    self._on_delivered(batch + folded)
                return
            break
        self._settle(len(batch) + len(folded), delivered=False)

    def _sleep(self, delay: float) -> bool:
        """Back off for `delay` s; False if that would overrun the close deadline."""
        wake = time.monotonic() + delay
        with self._cond:
            while True:
                if self._abandoned or (self._deadline is not None and wake > self._deadline):
                    return False
                remaining = wake - time.monotonic()
                if remaining <= 0:
                    return True
                self._cond.wait(remaining)  # close() wakes us to re-check the deadline

    def _settle(self, count: int, *, delivered: bool) -> None:
        with self._cond:
            if self._abandoned:
                return
            self._in_flight = 0
            if delivered:
                self._published += count
                self._batches += 1
            else:
                self._dropped += count
