"""Events that reach one replay together, as the Azure Storage provider hands them over.

Each scenario here lost an event on the first monitor (it took the first completed wait and
continued as new, and the SDK dropped the rest of the replay's events)."""

import azure.durable_functions as df
import pytest

from tests.local_plane import calls, fake, plane_driver, run_input, script, status, updates


@pytest.fixture
def driver():
    return plane_driver()


def started(driver):
    driver.start_new("run", "r1", run_input())
    driver.drain(fire_timers=False)
    assert status(driver)["phase"] == "running"


def test_a_cancel_that_arrives_with_a_progress_event_cancels_the_run(driver):
    started(driver)
    stream = updates(trials=3)
    driver.raise_event("r1", "progress", stream[2])
    driver.raise_event("r1", "cancel", {"purge": False})
    driver.drain(fire_timers=False)
    final = driver.get_status("r1")
    assert final.runtime_status == df.OrchestrationRuntimeStatus.Completed
    assert final.output["phase"] == "cancelled"
    assert final.output["progress"]["done"] == 2  # the progress beside it counted too
    assert calls[-1] == ("local_stop_run", {"run_id": "r1", "purge": False})


def test_a_cancel_during_provisioning_followed_by_the_first_event_cancels_the_run(driver):
    first = updates(trials=0)[0]

    def start_runner(payload):  # while the runner starts, the user cancels and the runner reports
        driver.raise_event("r1", "cancel", {"purge": True})
        driver.raise_event("r1", "progress", first)
        return {"runner_id": "local-0", "pid": 4242}

    script["local_start_runner"] = start_runner
    driver.start_new("run", "r1", run_input())
    driver.drain(fire_timers=False)
    assert status(driver)["phase"] == "cancelled"
    assert fake.names()[-2:] == ["local_stop_run", "purge_results"]


def test_a_completion_beside_another_progress_completes_the_run(driver):
    started(driver)
    stream = updates(trials=4, complete=True)
    driver.raise_event("r1", "progress", stream[2])
    driver.raise_event("r1", "progress", stream[-1])
    driver.raise_event("r1", "progress", stream[3])
    driver.drain(fire_timers=False)
    final = status(driver)
    assert final["phase"] == "completed"
    assert final["progress"]["done"] == 4
    assert calls[-1] == ("local_stop_run", {"run_id": "r1", "purge": False})


def test_events_beside_a_heartbeat_and_the_runner_check_are_all_taken(driver):
    from datetime import timedelta

    started(driver)
    stream = updates(trials=6, complete=True)

    def runner_status(payload):  # events arrive while the monitor asks after the runner
        driver.raise_event("r1", "progress", stream[4])
        driver.raise_event("r1", "progress", stream[-1])
        return {"state": "running", "exit_code": None, "summary": None}

    script["local_runner_status"] = runner_status
    driver.raise_event("r1", "progress", stream[2])
    driver.advance(timedelta(seconds=61))  # the heartbeat fires beside the event
    driver.drain(fire_timers=False)
    final = status(driver)
    assert final["phase"] == "completed" and final["progress"]["done"] == 6
    assert driver.replay_all_recorded() > 0
