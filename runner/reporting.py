"""Progress events of one runner: built once, sent to every configured sink.

A trial's event has the same id whenever it is sent, and the reporter knows
which trials every sink has taken (`take_reported`), so the ledger can mark
them; after a crash, a restart sends those that were not (subscribers dedupe).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence
from typing import Any

from modelops.events import TRIAL_COMPLETED, TRIAL_FAILED, TRIAL_OK, ProgressEvents, Publisher, open_sink
from modelops.events.publisher import control_plane_options

from .ledger import Counts
from .trials import TrialRecord


class Reporter:
    """Publishes run and trial events to each sink URL; never blocks the calibration."""

    def __init__(self, run_id: str, budget: int, sink_urls: Sequence[str]):
        self.events = ProgressEvents(run_id, budget)
        urls = [url for url in sink_urls if url]
        self._lock = threading.Lock()
        self._deliveries: collections.Counter[str] = collections.Counter()  # trial param_id -> sinks that took it
        self._reported: list[str] = []
        self._publishers = [Publisher(open_sink(url), on_delivered=self._delivered, **control_plane_options(url))
                            for url in urls]  # fmt: skip

    def _publish(self, event: dict[str, Any]) -> None:
        for publisher in self._publishers:
            publisher.publish(event)

    def _delivered(self, batch: list[dict[str, Any]]) -> None:
        with self._lock:
            for event in batch:
                if event["type"] == TRIAL_COMPLETED and "phase" not in event["data"]["trial"]:  # search trials
                    param_id = event["data"]["trial"]["param_id"]
                    self._deliveries[param_id] += 1
                    if self._deliveries[param_id] == len(self._publishers):
                        del self._deliveries[param_id]
                        self._reported.append(param_id)

    def take_reported(self) -> list[str]:
        """param_ids whose trial event every sink has taken since the last call."""
        with self._lock:
            reported, self._reported = self._reported, []
        return reported

    def started(self, **info: Any) -> None:
        self._publish(self.events.run_started(**info))

    def trial(self, record: TrialRecord, counts: Counts) -> None:
        best = counts.best
        study = {
            "done": counts.done,
            "failed": counts.failed,
            "best_loss": None if best is None else best.loss,
            "best_params": None if best is None else best.params,
        }
        status = TRIAL_OK if record.status == "completed" else TRIAL_FAILED
        self._publish(
            self.events.trial_completed(record.number, record.param_id, record.params, record.loss, status, study)
        )
        if not self._publishers:
            with self._lock:
                self._reported.append(record.param_id)

    def searched(self, counts: Counts) -> None:
        """The search is over: confirmation events carry its final counts."""
        best = counts.best
        self.events.searched(counts.done, counts.failed, None if best is None else best.loss,
                             None if best is None else best.params)  # fmt: skip

    def confirmation(self, record: TrialRecord, counts: Counts) -> None:
        """A re-scoring of a candidate (`record` marked with its phase), `counts` the phase's."""
        status = TRIAL_OK if record.status == "completed" else TRIAL_FAILED
        self._publish(self.events.confirmation_completed(
            record.number, record.param_id, record.params, record.loss, status,
            phase=record.phase, confirms=record.confirms, done=counts.done, budget=counts.budget,
        ))  # fmt: skip

    def finished(self, summary: dict[str, Any]) -> None:
        if summary["status"] == "completed":
            self._publish(self.events.run_completed(summary))
        else:
            self.failed(summary["error"])

    def failed(self, reason: str) -> None:
        self._publish(self.events.run_failed(reason))

    def close(self, timeout: float = 5.0) -> dict[str, int]:
        """Flush every sink; the totals say how many events were published and dropped."""
        totals = {"published": 0, "dropped": 0}
        for publisher in self._publishers:
            stats = publisher.close(timeout)
            totals["published"] += stats["published"]
            totals["dropped"] += stats["dropped"]
        return totals
