"""The replay driver plays the Durable extension faithfully, on the sample functions in tests/durable_samples.py."""
import json
import uuid
from datetime import timedelta

import azure.durable_functions as df
import pytest
from azure.durable_functions.models.history import HistoryEventType as T

from tests.durable import NonDeterminismError, ReplayDriver, StillBusy, UnknownFunction
from tests.durable.driver import DEFAULT_START
from tests.durable_samples import ATTEMPTS, FLIPS, app, events


@pytest.fixture
def driver():
    return ReplayDriver(app)


def test_activity_chain_builds_a_v3_history(driver):
    instance_id = driver.start_new("chain")
    assert driver.get_status(instance_id).runtime_status is df.OrchestrationRuntimeStatus.Pending
    driver.drain()
    status = driver.get_status(instance_id)
    assert status.runtime_status is df.OrchestrationRuntimeStatus.Completed
    assert status.output == ["Hello Tokyo", "Hello Seattle"]
    [history] = driver.histories(instance_id)
    assert [e["EventType"] for e in history[:3]] == [T.ORCHESTRATOR_STARTED, T.EXECUTION_STARTED,
                                                      T.TASK_SCHEDULED]
    assert [(e["EventId"], e["Name"], e["Input"]) for e in events(history, T.TASK_SCHEDULED)] == \
        [(0, "say_hello", '"Tokyo"'), (1, "say_hello", '"Seattle"')]
    assert [(e["TaskScheduledId"], e["Result"]) for e in events(history, T.TASK_COMPLETED)] == \
        [(0, '"Hello Tokyo"'), (1, '"Hello Seattle"')]
    assert history[-1]["EventType"] == T.ORCHESTRATOR_COMPLETED
    first_episode = driver.recordings[0]
    assert json.loads(first_episode.context_json)["upperSchemaVersionNew"] == 2
    assert "Hello Seattle" in driver.task_hub_text()
    assert driver.replay_all_recorded() == 3


def test_fan_out_fan_in_batches_the_completions(driver):
    instance_id = driver.start_new("fan_out", client_input={"n": 5})
    driver.drain()
    assert driver.get_status(instance_id).output == 0 + 1 + 4 + 9 + 16
    [history] = driver.histories(instance_id)
    assert [(e["EventId"], e["Input"]) for e in events(history, T.TASK_SCHEDULED)] == \
        [(i, str(i)) for i in range(5)]
    assert len(driver.recordings) == 2  # all five results arrived in one episode
    driver.replay_all_recorded()


def test_task_any_event_beats_the_timer(driver):
    instance_id = driver.start_new("approval")
    driver.drain(fire_timers=False)
    assert driver.get_status(instance_id).runtime_status is df.OrchestrationRuntimeStatus.Running
    driver.raise_event(instance_id, "Approved", {"by": "ana"})
    driver.drain()
    output = driver.get_status(instance_id).output
    assert output == {"approved": {"by": "ana"}, "decided_at": DEFAULT_START.isoformat()}
    assert driver.clock.now == DEFAULT_START  # a finished instance's timer moves nothing
    driver.replay_all_recorded()


def test_task_any_timer_fires_on_the_virtual_clock(driver):
    instance_id = driver.start_new("approval")
    driver.drain()
    deadline = DEFAULT_START + timedelta(hours=1)
    assert driver.get_status(instance_id).output == {"approved": None,
                                                     "decided_at": deadline.isoformat()}
    assert driver.clock.now == deadline
    [history] = driver.histories(instance_id)
    [created], [fired] = events(history, T.TIMER_CREATED), events(history, T.TIMER_FIRED)
    assert (created["EventId"], fired["TimerId"]) == (0, 0)
    assert fired["FireAt"] == created["FireAt"] == "2024-01-01T01:00:00.000000Z"


def test_event_raised_before_the_orchestrator_waits_is_buffered(driver):
    instance_id = driver.start_new("waits_after_work")
    driver.raise_event(instance_id, "Go", "first")  # still Pending: nobody waits yet
    driver.drain()
    [history] = driver.histories(instance_id)
    kinds = [e["EventType"] for e in history]
    assert kinds.index(T.EVENT_RAISED) < kinds.index(T.TASK_COMPLETED)
    # SDK 1.7.0 keeps an early event as a deferred completion and hands it to every later
    # wait for the same name, so the second wait never blocks.
    assert driver.get_status(instance_id).output == ["Hello early bird", "first", "first"]


def test_event_raised_while_waiting_reaches_only_that_wait(driver):
    instance_id = driver.start_new("waits_after_work")
    driver.drain()
    driver.raise_event(instance_id, "Go", "first")
    driver.drain()
    assert driver.get_status(instance_id).custom_status == "waiting for a second Go"
    driver.raise_event(instance_id, "Go", "second")
    driver.drain()
    assert driver.get_status(instance_id).output == ["Hello early bird", "first", "second"]


def test_retry_succeeds_on_the_third_attempt(driver):
    job = {"key": uuid.uuid4().hex, "succeed_on": 3}
    instance_id = driver.start_new("retrying", client_input=job)
    driver.drain()
    assert driver.get_status(instance_id).output == "ok after 3"
    [history] = driver.histories(instance_id)
    assert [e["EventId"] for e in events(history, T.TASK_SCHEDULED)] == [0, 2, 4]
    assert [e["EventId"] for e in events(history, T.TIMER_CREATED)] == [1, 3]
    assert [e["FireAt"] for e in events(history, T.TIMER_CREATED)] == \
        ["2024-01-01T00:00:05.000000Z", "2024-01-01T00:00:10.000000Z"]
    driver.replay_all_recorded()


def test_retry_exhausted_waits_one_more_timer_then_raises(driver):
    job = {"key": uuid.uuid4().hex, "succeed_on": 99}
    instance_id = driver.start_new("retrying", client_input=job)
    driver.drain()
    assert ATTEMPTS[job["key"]] == 3
    gave_up = driver.get_status(instance_id).output["gave_up"]
    assert "Activity function 'flaky' failed: RuntimeError: attempt 3 failed" in gave_up
    [history] = driver.histories(instance_id)
    assert [e["EventId"] for e in events(history, T.TASK_FAILED)] == [-1, -1, -1]
    assert [e["TaskScheduledId"] for e in events(history, T.TASK_FAILED)] == [0, 2, 4]
    assert [e["TimerId"] for e in events(history, T.TIMER_FIRED)] == [1, 3, 5]
    assert driver.clock.now == DEFAULT_START + timedelta(seconds=15)


def test_sub_orchestrations_run_as_child_instances(driver):
    instance_id = driver.start_new("parent")
    driver.drain()
    output = driver.get_status(instance_id).output
    assert output["chain"] == ["Hello Tokyo", "Hello Seattle"]
    assert output["fan_out"] == 0 + 1 + 4
    assert "Orchestrator function 'exploding' failed: calibration spec is invalid" in \
        output["child_error"]
    [history] = driver.histories(instance_id)
    created = events(history, T.SUB_ORCHESTRATION_INSTANCE_CREATED)
    execution_id = driver.instance(instance_id).execution.execution_id
    assert [(c["EventId"], c["InstanceId"]) for c in created] == [
        (0, f"{execution_id}:0"), (1, "fan-out-child"), (2, f"{execution_id}:2"),
        (4, f"{execution_id}:4")]  # the retry re-creates the child after retry timer 3
    assert [e["TimerId"] for e in events(history, T.TIMER_FIRED)] == [3, 5]
    child = driver.get_status("fan-out-child")
    assert (child.runtime_status, child.input_) == (df.OrchestrationRuntimeStatus.Completed,
                                                    '{"n": 3}')
    assert len(driver.histories(f"{execution_id}:0")[0]) > 2
    driver.replay_all_recorded()


def test_continue_as_new_carries_state_with_bounded_histories(driver):
    instance_id = driver.start_new("tally", client_input={"total": 0, "events": 0})
    driver.drain()
    for value in range(1, 6):
        driver.raise_event(instance_id, "add", value)
        driver.drain()
    status = driver.get_status(instance_id)
    assert status.output == {"total": 15, "events": 5}
    executions = driver.histories(instance_id)
    assert len(executions) == 5
    assert max(len(h) for h in executions) <= 10
    assert json.loads(events(executions[-1], T.EXECUTION_STARTED)[0]["Input"]) == \
        {"total": 10, "events": 4}
    assert [events(h, T.EXECUTION_COMPLETED)[0]["OrchestrationStatus"] for h in executions] == \
        ["ContinuedAsNew"] * 4 + ["Completed"]
    driver.replay_all_recorded()


def test_custom_status_is_visible_while_running(driver):
    instance_id = driver.start_new("staged")
    driver.drain()
    assert driver.get_status(instance_id).custom_status == {"stage": "waiting"}
    driver.raise_event(instance_id, "Continue")
    driver.drain()
    status = driver.get_status(instance_id)
    assert (status.custom_status, status.output) == ({"stage": "done"}, "finished")


def test_unhandled_exception_fails_the_instance_with_its_message(driver):
    instance_id = driver.start_new("exploding")
    driver.drain()
    status = driver.get_status(instance_id)
    assert status.runtime_status is df.OrchestrationRuntimeStatus.Failed
    assert status.output == "Orchestrator function 'exploding' failed: calibration spec is invalid"
    [history] = driver.histories(instance_id)
    assert events(history, T.EXECUTION_COMPLETED)[0]["OrchestrationStatus"] == "Failed"
    driver.replay_all_recorded()  # the failing episode replays to the same error


def test_calling_an_unregistered_activity_fails_the_orchestration(driver):
    missing = driver.start_new("calls_missing_activity")
    # The host registers @app.function_name; the SDK names a function object by __name__.
    renamed = driver.start_new("calls_renamed_by_object")
    driver.drain()
    for instance_id, name in ((missing, "no_such_activity"), (renamed, "greet")):
        status = driver.get_status(instance_id)
        assert status.runtime_status is df.OrchestrationRuntimeStatus.Failed
        assert f"The function '{name}' doesn't exist" in status.output
    assert "greet_renamed" in driver.functions.activities
    with pytest.raises(UnknownFunction):
        driver.start_new("no_such_orchestrator")


def test_oversized_custom_status_fails_the_orchestration(driver):
    instance_id = driver.start_new("chatty")
    driver.drain()
    status = driver.get_status(instance_id)
    assert status.runtime_status is df.OrchestrationRuntimeStatus.Failed
    assert "must not exceed 16 KB" in status.output


def test_advance_runs_an_eternal_orchestration_that_drain_refuses(driver):
    instance_id = driver.start_new("heartbeat", client_input=0)
    driver.advance(timedelta(hours=3, minutes=30))
    assert driver.clock.now == DEFAULT_START + timedelta(hours=3, minutes=30)
    assert len(driver.histories(instance_id)) == 4
    assert driver.instance(instance_id).execution.input_text == "3"
    with pytest.raises(StillBusy):
        driver.drain(max_episodes=20)


def test_non_deterministic_orchestrator_is_caught(driver):
    instance_id = driver.start_new("nondeterministic")
    with pytest.raises(NonDeterminismError) as caught:
        driver.drain()
    message = str(caught.value)
    assert f"instance '{instance_id}'" in message and "sequence id 0" in message
    assert "TASK_SCHEDULED" in message and "CALL_ACTIVITY" in message
    assert driver.get_status(instance_id).runtime_status is df.OrchestrationRuntimeStatus.Failed


def test_replay_all_recorded_catches_a_changed_reply(driver):
    driver.start_new("nondeterministic")
    with pytest.raises(NonDeterminismError):
        driver.drain()
    next(FLIPS)  # the module state moves on, as it would in a long-lived worker
    with pytest.raises(NonDeterminismError, match="replied differently"):
        driver.replay_all_recorded()  # the first episode now schedules the other activity


