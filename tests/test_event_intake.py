"""The event intake: both Event Grid schemas, strict validation, handshakes (summarise and merge: test_event_merge)."""

import copy
import json
import math

import pytest

from control_plane.intake import (IntakeError, ProgressEvent, abuse_protection_headers, parse_delivery,
                                   validation_response)
from tests.progress_events import as_eventgrid, run_events, validation_event


# -- parsing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("encode", [lambda b: json.dumps(b).encode(), json.dumps, lambda b: b],
                         ids=["bytes", "str", "parsed"])
def test_a_cloudevents_batch_parses_into_progress_events(encode):
    sent = run_events()
    events, rejected = parse_delivery(encode(sent))
    assert rejected == []
    assert [e.id for e in events] == [e["id"] for e in sent]
    last_trial = events[3]
    assert last_trial == ProgressEvent(
        id=sent[3]["id"], type="modelops.trial.completed", run_id="run-a",
        time=sent[3]["time"], done=3, failed=0, budget=10, best_loss=1.5,
        best_params={"x": 1})
    assert events[-1].summary == {"trials": 3} and events[-1].type == "modelops.run.completed"


def test_a_single_cloudevent_object_is_a_delivery_of_one():
    event = run_events(end="failed")[-1]
    events, rejected = parse_delivery(json.dumps(event))
    assert rejected == [] and len(events) == 1
    assert (events[0].type, events[0].reason) == ("modelops.run.failed", "the simulation crashed")


@pytest.mark.parametrize("single", [True, False])
def test_event_grid_schema_parses_the_same(single):
    sent = run_events()
    body = as_eventgrid(sent[2]) if single else [as_eventgrid(e) for e in sent]
    events, rejected = parse_delivery(json.dumps(body))
    assert rejected == []
    expected, _ = parse_delivery(sent[2] if single else sent)
    assert events == expected


def test_the_run_id_comes_from_runid_or_source_and_is_percent_decoded():
    event = run_events(run_id="team-a-run-1")[0]
    (from_extension,), _ = parse_delivery(event)
    del event["runid"]
    event["source"] = "/modelops/runs/team%2Da-run-1"
    (from_source,), _ = parse_delivery(event)
    assert from_extension.run_id == from_source.run_id == "team-a-run-1"


@pytest.mark.parametrize("run_id", ["team a/run 1", "UPPER", "a" * 60, "-r", "r%2F..%2Fx", "r\u0000"])
def test_a_run_id_off_the_grammar_rejects_its_event_before_any_client_call(run_id):
    event = run_events(run_id="ok-1")[0]
    del event["runid"]
    event["source"] = f"/modelops/runs/{run_id}"
    events, rejected = parse_delivery(event)
    assert events == [] and "is not a run id" in rejected[0][1]
    event = run_events(run_id="ok-1")[0]
    event["runid"] = run_id.replace("%2F", "/")
    del event["source"]
    event["source"] = "/modelops/elsewhere"
    events, rejected = parse_delivery(event)
    assert events == [] and "is not a run id" in rejected[0][1]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_out_of_range_in_utc_rejects_its_event(moment):
    event = run_events()[0]
    event["time"] = moment
    events, rejected = parse_delivery(event)
    assert events == [] and "not a valid timestamp" in rejected[0][1]


def test_times_are_normalised_to_utc():
    event = run_events()[0]
    event["time"] = "2026-03-01T12:00:00.1234567+02:00"  # Event Grid writes seven digits
    (parsed,), _ = parse_delivery(event)
    assert parsed.time == "2026-03-01T10:00:00.123456Z"


def cloudevent(**changes):
    event = run_events()[1]
    for key, value in changes.items():
        if value is DELETE:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def data_of(event_index=1, **changes):
    event = copy.deepcopy(run_events(end="failed")[event_index])
    for path, value in changes.items():
        holder, *keys = [event["data"], *path.split("__")]
        for key in keys[:-1]:
            holder = holder[key]
        if value is DELETE:
            del holder[keys[-1]]
        else:
            holder[keys[-1]] = value
    return event


DELETE = object()
STARTED, TRIAL, COMPLETED_OR_FAILED = 0, 1, -1

REJECTIONS = [
    (42, "must be a JSON object"),
    ({"id": "x"}, "neither a CloudEvent"),
    (cloudevent(specversion="0.3"), "specversion must be '1.0'"),
    (cloudevent(id=DELETE), "id must be a non-empty string"),
    (cloudevent(id=""), "id must be a non-empty string"),
    (cloudevent(source=DELETE), "source must be a non-empty string"),
    (cloudevent(type="com.example.other"), "not one of ours"),
    (cloudevent(datacontenttype="text/plain"), "datacontenttype must be JSON"),
    (cloudevent(sequence="7a"), "sequence must be a string of digits"),
    (cloudevent(sequence=7), "sequence must be a string of digits"),
    (cloudevent(runid=5), "runid must be a non-empty string"),
    (cloudevent(runid="run-b"), "disagrees with source"),
    (cloudevent(runid=DELETE, source="/elsewhere/run-a"), "no run id"),
    (cloudevent(data=DELETE), "data is missing"),
    (cloudevent(data=DELETE, data_base64="e30="), "data_base64 is not accepted"),
    (cloudevent(time=DELETE), "time must be an RFC 3339 timestamp"),
    (cloudevent(time="2026-03-01T12:00:00"), "with a UTC offset"),
    (cloudevent(time="2026-13-01T12:00:00Z"), "time is not a valid timestamp"),
    (cloudevent(data=[1, 2]), "data must be a JSON object"),
    (data_of(counts=DELETE), "data.counts must be an object"),
    (data_of(counts__done=-1), "data.counts.done must be a non-negative integer"),
    (data_of(counts__failed=True), "data.counts.failed must be a non-negative integer"),
    (data_of(counts__budget="10"), "data.counts.budget must be a non-negative integer"),
    (data_of(counts__failed=9), "exceeds data.counts.done"),
    (data_of(best_loss="low"), "data.best_loss must be a finite number or null"),
    (data_of(best_loss=math.inf), "data.best_loss must be a finite number or null"),
    (data_of(best_params=[1]), "data.best_params must be an object or null"),
    (data_of(best_params=None), "data.best_params is missing for data.best_loss"),
    (data_of(STARTED, run=DELETE), "data.run must be an object"),
    (data_of(TRIAL, trial=None), "data.trial must be an object"),
    (data_of(TRIAL, trial__number=-1), "data.trial.number must be a non-negative integer"),
    (data_of(TRIAL, trial__param_id=DELETE), "data.trial.param_id must be a string"),
    (data_of(TRIAL, trial__status="maybe"), "data.trial.status must be 'ok' or 'failed'"),
    (data_of(TRIAL, trial__loss=math.nan), "data.trial.loss must be a finite number or null"),
    (data_of(TRIAL, trial__params=DELETE), "data.trial.params must be an object"),
    (data_of(COMPLETED_OR_FAILED, reason=None), "data.reason must be a string"),
    ({**as_eventgrid(run_events()[0]), "subject": "trial/3"}, "does not name a run"),
    ({**as_eventgrid(run_events()[0]), "eventType": "Microsoft.Storage.BlobCreated"},
     "not one of ours"),
    ({k: v for k, v in as_eventgrid(run_events()[0]).items() if k != "dataVersion"},
     "dataVersion must be a non-empty string"),
    ({k: v for k, v in as_eventgrid(run_events()[0]).items() if k != "eventTime"},
     "eventTime must be an RFC 3339 timestamp"),
    ({k: v for k, v in as_eventgrid(run_events()[0]).items() if k != "data"}, "data is missing"),
]


@pytest.mark.parametrize("bad, reason", REJECTIONS, ids=[r for _, r in REJECTIONS])
def test_each_invalid_event_is_rejected_alone_with_its_reason(bad, reason):
    good = run_events(losses=(1.0,), end=None)
    events, rejected = parse_delivery(json.dumps([good[0], bad, good[1]]))
    assert [e.id for e in events] == [good[0]["id"], good[1]["id"]]
    assert len(rejected) == 1 and rejected[0][0] == 1
    assert reason in rejected[0][1]


def test_a_completed_run_needs_its_summary():
    event = run_events()[-1]
    del event["data"]["summary"]
    assert parse_delivery(event)[1] == [(0, "data.summary must be an object")]


def test_nan_in_the_body_costs_only_its_event():
    good, bad = run_events(losses=(1.0,), end=None)
    text = json.dumps([good, bad]).replace('"loss": 1.0', '"loss": NaN')
    events, rejected = parse_delivery(text)
    assert [e.id for e in events] == [good["id"]] and rejected[0][0] == 1


@pytest.mark.parametrize("body", [b"", b"not json", b"\xff\xfe\xfa", b"42", b'"text"', b"null"])
def test_a_body_that_is_not_an_event_or_an_array_is_an_intake_error(body):
    with pytest.raises(IntakeError):
        parse_delivery(body)


def test_an_empty_array_is_an_empty_delivery():
    assert parse_delivery(b"[]") == ([], [])


# -- handshakes -------------------------------------------------------------------------------

def test_the_event_grid_validation_event_is_answered_with_its_code():
    assert validation_response(json.dumps([validation_event("abc")])) == {"validationResponse": "abc"}
    assert validation_response(validation_event("abc")) == {"validationResponse": "abc"}


def test_a_validation_event_without_a_code_is_an_intake_error():
    with pytest.raises(IntakeError, match="validationCode"):
        validation_response([validation_event(code="")])


def test_an_ordinary_delivery_is_no_handshake():
    assert validation_response(run_events()) is None


def test_the_cloudevents_options_handshake_allows_the_origin():
    headers = abuse_protection_headers({"webhook-request-origin": "eventgrid.azure.net",
                                        "WebHook-Request-Rate": "120"})
    assert headers == {"WebHook-Allowed-Origin": "eventgrid.azure.net",
                       "WebHook-Allowed-Rate": "*", "Allow": "POST"}


def test_an_options_request_without_an_origin_is_an_intake_error():
    with pytest.raises(IntakeError, match="WebHook-Request-Origin"):
        abuse_protection_headers({"Origin": "eventgrid.azure.net"})
