"""Folding a delivery into one update per run, and merging updates into a run's state: monotone, idempotent."""

import copy
import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.intake import SEEN_EVENT_IDS, UPDATE_EVENT_IDS, merge, parse_delivery, summarise
from modelops.events import ProgressEvents
from tests.progress_events import run_events


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
