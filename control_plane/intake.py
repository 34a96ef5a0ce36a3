"""Progress events as Event Grid delivers them: validated, then folded into one update per run.

Pure (no I/O), so the webhook, the Event Grid trigger and the orchestrator apply the same
rules. Event Grid delivers at least once and in no particular order, and every runner event
carries a full snapshot, so folding is a join: counts take the maximum, the best loss the
minimum, a run only moves towards a terminal state. Duplicates and reordering change nothing,
and one update per run per delivery keeps orchestration histories small.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping
from urllib.parse import unquote

from modelops.events.cloudevents import (CONFIRMATION_PHASES, EVENT_TYPES, RUN_COMPLETED, RUN_FAILED, RUN_STARTED,
                                         SPEC_VERSION, TRIAL_COMPLETED, TRIAL_FAILED, TRIAL_OK)
from modelops.naming import check_run_id

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
# An update names at most this many event ids (the latest), so it stays small however large
# the delivery; `event_ids_omitted` says how many more it folded.
UPDATE_EVENT_IDS = 100
# How many recent event ids a run's state remembers to recognise a redelivered update.
SEEN_EVENT_IDS = 256
TERMINAL_RANK = {None: 0, "completed": 1, "failed": 2}  # a failure report outranks completion

_RUN_PATH = re.compile(r"^/modelops/runs/([^/]+)(?:/.*)?$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_SEQUENCE = re.compile(r"^\d+$")


class IntakeError(ValueError):
    """The delivery as a whole is unusable (not JSON, not an event or an array): HTTP 400."""


class _Rejected(ValueError):
    """One event is invalid; the rest of its delivery still counts."""


@dataclass(frozen=True)
class ProgressEvent:
    """What one valid event says about its run; `time` is normalised ISO 8601 UTC."""
    id: str
    type: str
    run_id: str
    time: str
    done: int
    failed: int
    budget: int
    best_loss: float | None
    best_params: dict[str, Any] | None
    summary: dict[str, Any] | None = None  # run.completed only
    reason: str | None = None  # run.failed only


# -- the delivery ---------------------------------------------------------------------------

def load_delivery(body: bytes | str | list | dict) -> list[Any]:
    """The delivery's events as a list: one event (an object) or a JSON array of them."""
    if isinstance(body, (bytes, bytearray, str)):
        try:
            body = json.loads(body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
            raise IntakeError(f"the body is not JSON: {exc}") from exc
    if isinstance(body, dict):
        return [body]
    if isinstance(body, list):
        return body
    raise IntakeError("the body must be one event (a JSON object) or a JSON array of events")


def parse_delivery(body: bytes | str | list | dict) -> tuple[list[ProgressEvent],
                                                             list[tuple[int, str]]]:
    """Valid events, and `(index, reason)` for every invalid one, so one bad event costs
    only itself. Raises `IntakeError` only when the body as a whole is unusable."""
    events: list[ProgressEvent] = []
    rejected: list[tuple[int, str]] = []
    for index, item in enumerate(load_delivery(body)):
        try:
            events.append(_parse_event(item))
        except _Rejected as exc:
            rejected.append((index, str(exc)))
    return events, rejected


def validation_response(body: bytes | str | list | dict) -> dict[str, str] | None:
    """Event Grid schema's handshake: the answer to a SubscriptionValidationEvent, else None."""
    items = load_delivery(body)
    if len(items) != 1 or not isinstance(items[0], dict) \
            or items[0].get("eventType") != VALIDATION_EVENT:
        return None
    data = items[0].get("data")
    code = data.get("validationCode") if isinstance(data, dict) else None
    if not isinstance(code, str) or not code:
        raise IntakeError("the subscription validation event has no data.validationCode")
    return {"validationResponse": code}


def abuse_protection_headers(request_headers: Mapping[str, str]) -> dict[str, str]:
    """CloudEvents webhook handshake (HTTP OPTIONS): the headers that allow the sender.

    The function key already guards the endpoint, so any origin is allowed at any rate."""
    headers = {name.lower(): value for name, value in request_headers.items()}
    origin = headers.get("webhook-request-origin", "").strip()
    if not origin:
        raise IntakeError("an OPTIONS request needs a WebHook-Request-Origin header")
    return {"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*", "Allow": "POST"}


def _parse_event(item: Any) -> ProgressEvent:
    if not isinstance(item, dict):
        raise _Rejected("an event must be a JSON object")
    if "specversion" in item:
        return _parse_cloudevent(item)
    if "eventType" in item:
        return _parse_eventgrid_event(item)
    raise _Rejected("neither a CloudEvent (no specversion) nor an Event Grid event (no eventType)")


def _parse_cloudevent(item: dict[str, Any]) -> ProgressEvent:
    if item["specversion"] != SPEC_VERSION:
        raise _Rejected(f"specversion must be {SPEC_VERSION!r}, not {item['specversion']!r}")
    event_id, source = _text(item, "id"), _text(item, "source")
    event_type = _event_type(_text(item, "type"))
    content_type = item.get("datacontenttype", "application/json")
    if not isinstance(content_type, str) or not _is_json_media_type(content_type):
        raise _Rejected(f"datacontenttype must be JSON, not {content_type!r}")
    sequence = item.get("sequence")
    if sequence is not None and not (isinstance(sequence, str) and _SEQUENCE.match(sequence)):
        raise _Rejected("sequence must be a string of digits")
    from_source = _run_id_in(source)
    from_extension = item.get("runid")
    if from_extension is not None and (not isinstance(from_extension, str) or not from_extension):
        raise _Rejected("runid must be a non-empty string")
    if from_extension and from_source and from_extension != from_source:
        raise _Rejected(f"runid {from_extension!r} disagrees with source {source!r}")
    run_id = from_extension or from_source
    if not run_id:
        raise _Rejected(f"no run id: no runid extension and source {source!r} is not "
                        f"/modelops/runs/{{id}}")
    _check_run_id(run_id)
    if "data" not in item:
        raise _Rejected("data is missing" + (" (data_base64 is not accepted)"
                                              if "data_base64" in item else ""))
    return _progress(event_id, event_type, run_id, _time(item, "time"), item["data"])


def _parse_eventgrid_event(item: dict[str, Any]) -> ProgressEvent:
    event_id, subject = _text(item, "id"), _text(item, "subject")
    event_type = _event_type(_text(item, "eventType"))
    _text(item, "dataVersion")
    run_id = _run_id_in(subject)
    if not run_id:
        raise _Rejected(f"subject {subject!r} does not name a run (/modelops/runs/{{id}})")
    _check_run_id(run_id)
    if "data" not in item:
        raise _Rejected("data is missing")
    return _progress(event_id, event_type, run_id, _time(item, "eventTime"), item["data"])


def _progress(event_id: str, event_type: str, run_id: str, time: str, data: Any) -> ProgressEvent:
    if not isinstance(data, dict):
        raise _Rejected("data must be a JSON object")
    counts = data.get("counts")
    if not isinstance(counts, dict):
        raise _Rejected("data.counts must be an object")
    done, failed, budget = (_count(counts, key) for key in ("done", "failed", "budget"))
    if failed > done:
        raise _Rejected(f"data.counts.failed ({failed}) exceeds data.counts.done ({done})")
    best_loss = _loss(data, "best_loss", "data.best_loss")
    best_params = data.get("best_params")
    if best_params is not None and not isinstance(best_params, dict):
        raise _Rejected("data.best_params must be an object or null")
    if best_loss is not None and best_params is None:
        raise _Rejected("data.best_params is missing for data.best_loss")
    summary, reason = _check_payload(event_type, data)
    return ProgressEvent(event_id, event_type, run_id, time, done, failed, budget, best_loss,
                         best_params if best_loss is not None else None, summary, reason)


def _check_payload(event_type: str, data: dict[str, Any]) -> tuple[dict | None, str | None]:
    """The part of `data` each event type adds; returns (summary, reason)."""
    if event_type == RUN_STARTED:
        _object(data, "run")
    elif event_type == TRIAL_COMPLETED:
        trial = _object(data, "trial")
        number = trial.get("number")
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise _Rejected("data.trial.number must be a non-negative integer")
        if not isinstance(trial.get("param_id"), str):
            raise _Rejected("data.trial.param_id must be a string")
        if trial.get("status") not in (TRIAL_OK, TRIAL_FAILED):
            raise _Rejected(f"data.trial.status must be {TRIAL_OK!r} or {TRIAL_FAILED!r}")
        _loss(trial, "loss", "data.trial.loss")
        if not isinstance(trial.get("params"), dict):
            raise _Rejected("data.trial.params must be an object")
        if "phase" in trial:  # a re-scoring after the search: its counts are still the search's
            if trial["phase"] not in CONFIRMATION_PHASES:
                raise _Rejected(f"data.trial.phase must be one of {', '.join(CONFIRMATION_PHASES)}")
            if not isinstance(trial.get("confirms"), str):
                raise _Rejected("data.trial.confirms must be a string")
    elif event_type == RUN_COMPLETED:
        return _object(data, "summary"), None
    elif event_type == RUN_FAILED:
        reason = data.get("reason")
        if not isinstance(reason, str):
            raise _Rejected("data.reason must be a string")
        return None, reason
    return None, None


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise _Rejected(f"{key} must be a non-empty string")
    return value


def _event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        raise _Rejected(f"event type {value!r} is not one of ours ({', '.join(EVENT_TYPES)})")
    return value


def _is_json_media_type(value: str) -> bool:
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _run_id_in(path: str) -> str | None:
    match = _RUN_PATH.match(path)
    return unquote(match.group(1)) if match else None


def _check_run_id(run_id: str) -> None:
    """Before any client call: a run id off the grammar names no run of ours."""
    try:
        check_run_id(run_id)
    except ValueError as exc:
        raise _Rejected(f"run id {run_id[:80]!r} is not a run id: {exc}") from None


def _time(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise _Rejected(f"{key} must be an RFC 3339 timestamp with a UTC offset")
    try:
        moment = datetime.fromisoformat(value).astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise _Rejected(f"{key} is not a valid timestamp: {exc}") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _count(counts: dict[str, Any], key: str) -> int:
    value = counts.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _Rejected(f"data.counts.{key} must be a non-negative integer")
    return value


def _loss(holder: dict[str, Any], key: str, name: str) -> float | None:
    value = holder.get(key)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise _Rejected(f"{name} must be a finite number or null")
    return float(value)


def _object(holder: dict[str, Any], key: str) -> dict[str, Any]:
    value = holder.get(key)
    if not isinstance(value, dict):
        raise _Rejected(f"data.{key} must be an object")
    return value


# -- folding --------------------------------------------------------------------------------

def summarise(events: Iterable[ProgressEvent]) -> dict[str, dict[str, Any]]:
    """One update per run (plain JSON types), the same whatever the order of `events`."""
    by_run: dict[str, list[ProgressEvent]] = {}
    for event in events:
        by_run.setdefault(event.run_id, []).append(event)
    updates = {}
    for run_id, run_events in by_run.items():
        update, latest = _empty(), {}
        for event in run_events:
            update = _join(update, _event_state(event))
            latest[event.id] = max(latest.get(event.id, event.time), event.time)
        ids = sorted(latest, key=lambda event_id: (latest[event_id], event_id))
        kept = ids[-UPDATE_EVENT_IDS:]
        updates[run_id] = {"event_ids": kept, "event_ids_omitted": len(ids) - len(kept),
                           **update}
    return updates


def merge(state: dict[str, Any] | None, update: dict[str, Any]) -> dict[str, Any]:
    """The orchestrator's fold of one update into its run state (plain JSON types).

    Deterministic and monotone; an update whose event ids were all seen (and that names them
    all) is a redelivery and returns the state unchanged. Applying it anyway would change
    nothing but the remembered ids, because the join is idempotent, so an update built by
    hand (no event ids; missing or null fields count as "nothing known") is always applied."""
    state = state or {**_empty(), "seen_event_ids": []}
    seen = state.get("seen_event_ids") or []
    named = update.get("event_ids") or []
    fresh = [event_id for event_id in named if event_id not in seen]
    if named and not fresh and not update.get("event_ids_omitted"):
        return state
    return {**_join(_fields(state), _fields(update)),
            "seen_event_ids": (seen + fresh)[-SEEN_EVENT_IDS:]}


def _empty() -> dict[str, Any]:
    return {"done": 0, "failed": 0, "budget": 0, "best_loss": None, "best_params": None,
            "last_event_at": None, "started": False, "terminal": None, "summary": None,
            "reason": None}


def _fields(source: dict[str, Any]) -> dict[str, Any]:
    return {key: default if source.get(key) is None else source[key]
            for key, default in _empty().items()}


def _event_state(event: ProgressEvent) -> dict[str, Any]:
    return {"done": event.done, "failed": event.failed, "budget": event.budget,
            "best_loss": event.best_loss, "best_params": event.best_params,
            "last_event_at": event.time, "started": event.type == RUN_STARTED,
            "terminal": {RUN_COMPLETED: "completed", RUN_FAILED: "failed"}.get(event.type),
            "summary": event.summary, "reason": event.reason}


def _join(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Commutative, associative and idempotent, so order and duplicates never matter."""
    best = min((a, b), key=lambda s: (s["best_loss"] is None, s["best_loss"] or 0.0,
                                      _canonical(s["best_params"])))
    return {
        "done": max(a["done"], b["done"]),
        "failed": max(a["failed"], b["failed"]),
        "budget": max(a["budget"], b["budget"]),
        "best_loss": best["best_loss"],
        "best_params": best["best_params"],
        "last_event_at": max((t for t in (a["last_event_at"], b["last_event_at"]) if t),
                             default=None),
        "started": a["started"] or b["started"],
        "terminal": max(a["terminal"], b["terminal"], key=TERMINAL_RANK.__getitem__),
        "summary": _pick(a["summary"], b["summary"]),
        "reason": _pick(a["reason"], b["reason"]),
    }


def _pick(a: Any, b: Any) -> Any:
    """Either value when only one is set; a fixed choice when two differ."""
    if a is None or b is None:
        return b if a is None else a
    return max(a, b, key=_canonical)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))

