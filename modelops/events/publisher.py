"""Background, bounded, lossy delivery of events to one sink.

Progress reporting must never slow down, stall or crash a calibration, so
`publish` only appends to a bounded buffer (dropping when full) and a daemon
thread batches, sends and retries. Every accepted event ends up counted as
published or dropped, which `close` reports.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .sinks import Sink, SinkError

log = logging.getLogger(__name__)


class Publisher:
    """Sends events to `sink` in batches of at most `max_batch`, at least every `flush_interval` s.

    A transient `SinkError` is retried up to `retries` times, sleeping
    `backoff`, 2*`backoff`, ... (capped at `max_backoff`); anything else drops the batch.
    `on_delivered(batch)` is called (on the sending thread) for each batch the sink took.
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
            self._pending.append(event)
            if len(self._pending) in (1, self._max_batch):
                self._cond.notify_all()
            return True

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
                self._dropped += len(self._pending) + self._in_flight
                self._pending.clear()
                self._in_flight = 0
        return self.stats()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            while batch := self._take_batch():
                self._deliver(batch)
        finally:
            try:
                self._sink.close()
            except Exception:
                log.warning("closing the event sink failed", exc_info=True)

    def _take_batch(self) -> list[dict[str, Any]]:
        """Wait for a first event, then up to `flush_interval` for a full batch; [] when done."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending or self._closing)
            if self._abandoned or not self._pending:
                return []
            self._cond.wait_for(
                lambda: len(self._pending) >= self._max_batch or self._closing, timeout=self._flush_interval
            )
            batch = [self._pending.popleft() for _ in range(min(self._max_batch, len(self._pending)))]
            self._in_flight = len(batch)
            return batch

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
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
                self._settle(len(batch), delivered=True)
                if self._on_delivered is not None:
                    self._on_delivered(batch)
                return
            break
        self._settle(len(batch), delivered=False)

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
