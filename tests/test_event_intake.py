"""The event intake: both Event Grid schemas, strict validation, handshakes, summarise, merge."""
import copy
import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.intake import (SEEN_EVENT_IDS, UPDATE_EVENT_IDS, IntakeError, ProgressEvent,
                                   abuse_protection_headers, merge, parse_delivery, summarise,
                                   validation_response)
from modelops.events import ProgressEvents

TOPIC = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.EventGrid/topics/progress"


def run_events(run_id="run-a", losses=(3.0, 1.5, 2.0), end="completed", budget=10):
    """A run's real CloudEvents: started, one trial per loss (None: a failed trial), the end."""
    builder = ProgressEvents(run_id, budget)
    events = [builder.run_started(algorithm="optuna")]
    for number, loss in enumerate(losses):
        status = "failed" if loss is None else "ok"
        events.append(builder.trial_completed(number, f"p{number}", {"x": number}, loss, status))
    if end == "completed":
        events.append(builder.run_completed({"trials": len(losses)}))
    elif end == "failed":
        events.append(builder.run_failed("the simulation crashed"))
    return events


def as_eventgrid(event):
    """The same event in the Event Grid schema, its run named by the subject."""
    subject = event["source"] + (f"/{event['subject']}" if "subject" in event else "")
    return {"id": event["id"], "eventType": event["type"], "subject": subject,
            "eventTime": event["time"], "data": event["data"], "dataVersion": "1.0",
            "topic": TOPIC}


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

def validation_event(code="512d38b6-c7b8-40c8-89fe-f46f9e9622b6"):
    return {"id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66", "topic": TOPIC, "subject": "",
            "data": {"validationCode": code,
                     "validationUrl": "https://example.invalid/validate?code=x"},
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2026-03-01T12:00:00.0000000Z", "metadataVersion": "1",
            "dataVersion": "2"}


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


# -- summarise --------------------------------------------------------------------------------

def test_summarise_folds_each_run_into_one_update():
    a, b = run_events("run-a"), run_events("run-b", losses=(None, 4.0), end="failed", budget=5)
    events, _ = parse_delivery(a + b)
    updates = summarise(events)
    assert set(updates) == {"run-a", "run-b"}
    assert updates["run-a"] == {
        "event_ids": [e["id"] for e in sorted(a, key=lambda e: (e["time"], e["id"]))],
        "event_ids_omitted": 0, "done": 3, "failed": 0, "budget": 10, "best_loss": 1.5,
        "best_params": {"x": 1}, "last_event_at": max(e["time"] for e in a), "started": True,
        "terminal": "completed", "summary": {"trials": 3}, "reason": None}
    run_b = updates["run-b"]
    assert (run_b["done"], run_b["failed"], run_b["best_loss"], run_b["best_params"]) == \
        (2, 1, 4.0, {"x": 1})
    assert (run_b["terminal"], run_b["reason"], run_b["summary"]) == \
        ("failed", "the simulation crashed", None)
    assert json.loads(json.dumps(updates, allow_nan=False)) == updates  # plain JSON


def test_summarise_ignores_order_and_duplicates():
    events, _ = parse_delivery(run_events("run-a") + run_events("run-b", losses=(2.0,)))
    shuffled = events + events[:3]
    random.Random(7).shuffle(shuffled)
    assert summarise(shuffled) == summarise(events)


def test_summarise_without_a_start_or_an_end():
    events, _ = parse_delivery(run_events(end=None)[1:])
    update = summarise(events)["run-a"]
    assert (update["started"], update["terminal"], update["summary"], update["reason"]) == \
        (False, None, None, None)


def test_an_update_names_at_most_the_latest_event_ids():
    sent = run_events(losses=[float(n) for n in range(UPDATE_EVENT_IDS + 49)], end="completed")
    update = summarise(parse_delivery(sent)[0])["run-a"]
    latest_first = sorted(sent, key=lambda e: (e["time"], e["id"]), reverse=True)
    assert update["event_ids"] == [e["id"] for e in reversed(latest_first[:UPDATE_EVENT_IDS])]
    assert update["event_ids_omitted"] == 51
    assert update["done"] == UPDATE_EVENT_IDS + 49 and update["best_loss"] == 0.0


# -- merge ------------------------------------------------------------------------------------

def updates_of(deliveries):
    return [summarise(parse_delivery(d)[0])["run-a"] for d in deliveries]


def test_merge_is_monotone_and_ignores_redelivery():
    events = run_events(losses=(3.0, 1.0, 2.0))
    early, late = updates_of([events[:3], events[3:]])
    state = merge(None, late)
    assert (state["done"], state["best_loss"], state["terminal"]) == (3, 1.0, "completed")
    again = merge(state, early)  # arrives after: nothing goes back
    assert (again["done"], again["best_loss"], again["terminal"], again["started"]) == \
        (3, 1.0, "completed", True)
    assert merge(again, late) is again and merge(again, early) is again


def test_merge_applies_an_update_built_without_event_ids():
    state = merge(None, updates_of([run_events(end=None)])[0])
    by_hand = {"event_ids": [], "done": 5, "failed": 1, "budget": None, "best_loss": 0.5,
               "best_params": {"x": 9}, "last_event_at": None, "started": True,
               "terminal": "completed", "summary": None, "reason": None}
    merged = merge(state, by_hand)
    assert (merged["done"], merged["failed"], merged["budget"], merged["best_loss"],
            merged["best_params"], merged["terminal"]) == (5, 1, 10, 0.5, {"x": 9}, "completed")
    assert merged["last_event_at"] == state["last_event_at"]
    assert merge(merged, by_hand) == merged


def test_a_failure_report_outranks_completion_whatever_the_order():
    completed = updates_of([run_events(end="completed")])[0]
    failed = updates_of([run_events(end="failed")])[0]
    one, other = merge(merge(None, completed), failed), merge(merge(None, failed), completed)
    assert one["terminal"] == other["terminal"] == "failed"
    assert one["summary"] == other["summary"] == {"trials": 3}


def test_merge_remembers_a_bounded_number_of_event_ids():
    events = run_events(losses=[1.0] * (SEEN_EVENT_IDS + 20), end=None)
    state = None
    for update in updates_of([[event] for event in events]):
        state = merge(state, update)
    assert state["seen_event_ids"] == [e["id"] for e in events[-SEEN_EVENT_IDS:]]
    assert state["done"] == SEEN_EVENT_IDS + 20


def test_a_truncated_update_is_applied_again_without_harm():
    update = updates_of([run_events(losses=[1.0] * (UPDATE_EVENT_IDS + 5))])[0]
    state = merge(None, update)
    assert merge(state, update) == state


FOLDED = ("done", "failed", "budget", "best_loss", "best_params", "last_event_at", "started",
          "terminal", "summary", "reason")


def folded(state):
    return {key: state[key] for key in FOLDED}


losses = st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)), max_size=25)


@settings(max_examples=60, deadline=None)
@given(losses=losses, end=st.sampled_from([None, "completed", "failed"]), data=st.data())
def test_merging_in_any_order_with_duplicates_equals_merging_once_in_order(losses, end, data):
    events = run_events(losses=losses, end=end)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=6)))
    bounds = [0, *cuts, len(events)]
    deliveries = [events[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
    updates = updates_of(deliveries)

    in_order = None
    for update in updates:
        in_order = merge(in_order, update)
    assert folded(in_order) == {k: v for k, v in updates_of([events])[0].items() if k in FOLDED}

    extra = data.draw(st.lists(st.sampled_from(range(len(updates))), max_size=8))
    shuffled = data.draw(st.permutations([*range(len(updates)), *extra]))
    state, previous = None, None
    for index in shuffled:
        state = merge(copy.deepcopy(state), copy.deepcopy(updates[index]))
        if previous is not None:  # monotone: nothing moves back
            assert state["done"] >= previous["done"] and state["failed"] >= previous["failed"]
            if previous["best_loss"] is not None:
                assert state["best_loss"] <= previous["best_loss"]
        previous = state
    assert folded(state) == folded(in_order)
    assert json.loads(json.dumps(state, allow_nan=False)) == state


def test_confirmation_events_count_apart_so_search_progress_never_passes_the_budget():
    builder = ProgressEvents("run-c", 2)
    stream = [builder.trial_completed(n, f"p{n}", {"x": n}, 1.0 + n) for n in range(2)]
    stream += [builder.confirmation_completed(2 + k, f"c{k}", {"x": 0}, 0.5, "ok", phase="confirm", confirms="p0",
                                              done=k + 1, budget=3) for k in range(3)]  # fmt: skip
    events, rejected = parse_delivery(stream)
    assert rejected == []
    state = summarise(events)["run-c"]
    assert (state["done"], state["budget"], state["best_loss"]) == (2, 2, 1.0)  # the search's best, not a re-scoring

    unmarked = copy.deepcopy(stream[-1])
    unmarked["id"], unmarked["data"]["trial"]["phase"] = "x1", "extra"
    orphan = copy.deepcopy(stream[-1])
    orphan["id"] = "x2"
    del orphan["data"]["trial"]["confirms"]
    events, rejected = parse_delivery([unmarked, orphan])
    assert events == [] and [reason for _, reason in rejected] == [
        "data.trial.phase must be one of confirm, holdout", "data.trial.confirms must be a string"]  # fmt: skip
