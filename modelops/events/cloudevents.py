"""CloudEvents 1.0 progress events for one calibration run, as plain dicts.

Pure (no I/O) so every sink, and every test, sees the same structured-mode JSON.
Each event carries a full progress snapshot (counts, best so far), so a
subscriber that missed events still shows the right state from the next one.
"""
from __future__ import annotations

import json
import math
import uuid
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import quote

RUN_STARTED = "modelops.run.started"
TRIAL_COMPLETED = "modelops.trial.completed"
RUN_COMPLETED = "modelops.run.completed"
RUN_FAILED = "modelops.run.failed"
EVENT_TYPES = (RUN_STARTED, TRIAL_COMPLETED, RUN_COMPLETED, RUN_FAILED)

SPEC_VERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"
TRIAL_OK = "ok"
TRIAL_FAILED = "failed"
# A trial event's `phase`: absent for the search; re-scorings of a candidate after it.
CONFIRMATION_PHASES = ("confirm", "holdout")
# The documented CloudEvents `sequence` extension is a lexicographically ordered
# String; zero-padding to the width of a signed 32-bit integer keeps string order
# equal to numeric order.
SEQUENCE_WIDTH = 10


def run_source(run_id: str) -> str:
    """The CloudEvents `source` of a run: a URI-reference naming it."""
    return f"/modelops/runs/{quote(run_id, safe='')}"


def to_json(value: Any) -> str:
    """Strict JSON (no NaN), numpy scalars as plain numbers, for every sink."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False, default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _finite(loss: float | None) -> float | None:
    if loss is None or not math.isfinite(loss):
        return None
    return float(loss)


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class ProgressEvents:
    """Builds one run's events and keeps its sequence counter and running counts.

    `done` counts every finished trial; `failed` counts those among them that failed.
    The best loss is the lowest finite loss of a successful trial.
    """

    def __init__(self, run_id: str, budget: int):
        if not run_id:
            raise ValueError("run_id must be non-empty")
        self.run_id = run_id
        self.budget = int(budget)
        self.source = run_source(run_id)
        self.done = 0
        self.failed = 0
        self.best_loss: float | None = None
        self.best_params: dict[str, Any] | None = None
        self._sequence = 0

    def run_started(self, **info: Any) -> dict[str, Any]:
        """`info` describes the run (algorithm, target, ...) for subscribers."""
        return self._event(RUN_STARTED, {"run": info})

    def trial_completed(
        self,
        number: int,
        param_id: str,
        params: Mapping[str, Any],
        loss: float | None,
        status: str = TRIAL_OK,
        study: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One finished trial, successful (`ok`) or `failed`.

        `study` ({done, failed, best_loss, best_params}) replaces the counts this
        object keeps when the run's true counts are kept elsewhere (a shared study).
        """
        if status not in (TRIAL_OK, TRIAL_FAILED):
            raise ValueError(f"trial status must be {TRIAL_OK!r} or {TRIAL_FAILED!r}, not {status!r}")
        loss = _finite(loss)
        self.done += 1
        if status == TRIAL_FAILED:
            self.failed += 1
        elif loss is not None and (self.best_loss is None or loss < self.best_loss):
            self.best_loss, self.best_params = loss, dict(params)
        if study is not None:  # several runners share the study: its counts, not this process's
            self.done, self.failed = study["done"], study["failed"]
            self.best_loss, self.best_params = _finite(study["best_loss"]), study["best_params"]
        trial = {"number": number, "param_id": param_id, "loss": loss, "status": status, "params": dict(params)}
        return self._event(TRIAL_COMPLETED, {"trial": trial}, subject=f"trial/{number}", event_id=self.trial_event_id(param_id))

    def confirmation_completed(
        self,
        number: int,
        param_id: str,
        params: Mapping[str, Any],
        loss: float | None,
        status: str,
        *,
        phase: str,
        confirms: str,
        done: int,
        budget: int,
    ) -> dict[str, Any]:
        """One finished re-scoring of the candidate `confirms` (phase "confirm" or "holdout").

        A trial event marked with its phase: its counts stay the search's (the
        confirmations are extra budget, so search progress never passes 100%);
        `data.confirmations` ({done, budget}) counts the phase's own.
        """
        if status not in (TRIAL_OK, TRIAL_FAILED):
            raise ValueError(f"trial status must be {TRIAL_OK!r} or {TRIAL_FAILED!r}, not {status!r}")
        trial = {"number": number, "param_id": param_id, "loss": _finite(loss), "status": status,
                 "params": dict(params), "phase": phase, "confirms": confirms}  # fmt: skip
        data = {"trial": trial, "confirmations": {"done": int(done), "budget": int(budget)}}
        return self._event(TRIAL_COMPLETED, data, subject=f"trial/{number}", event_id=self.trial_event_id(param_id))

    def searched(self, done: int, failed: int, best_loss: float | None, best_params: Mapping[str, Any] | None) -> None:
        """The search's final counts (the study's), for the events that follow it: a resumed runner saw none."""
        self.done, self.failed = done, failed
        self.best_loss, self.best_params = _finite(best_loss), None if best_params is None else dict(best_params)

    def trial_event_id(self, param_id: str) -> str:
        """The same id every time a trial is reported (again after a restart), so subscribers dedupe it."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{self.source}/trials/{param_id}").hex

    def run_completed(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        return self._event(RUN_COMPLETED, {"summary": dict(summary)})

    def run_failed(self, reason: str) -> dict[str, Any]:
        return self._event(RUN_FAILED, {"reason": reason})

    def _event(
        self, event_type: str, data: dict[str, Any], subject: str | None = None, event_id: str | None = None
    ) -> dict[str, Any]:
        self._sequence += 1
        event: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": event_id or uuid.uuid4().hex,
            "source": self.source,
            "type": event_type,
            "time": _utc_now(),
            "datacontenttype": DATA_CONTENT_TYPE,
            "sequence": f"{self._sequence:0{SEQUENCE_WIDTH}d}",
            "runid": self.run_id,
        }
        if subject is not None:
            event["subject"] = subject
        event["data"] = {
            "counts": {"done": self.done, "failed": self.failed, "budget": self.budget},
            "best_loss": self.best_loss,
            "best_params": self.best_params,
            **data,
        }
        return event
