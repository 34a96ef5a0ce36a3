"""The run orchestration through the replay driver, with scripted activities for the local plane."""

import json
from datetime import timedelta

import azure.durable_functions as df
import pytest

from tests.local_plane import calls, plane_driver, run_input, script, status, updates


@pytest.fixture
def driver():
    return plane_driver()


def test_provisions_the_local_plane_then_monitors(driver):
    driver.start_new("run", "r1", run_input())
    driver.drain(fire_timers=False)
    current = status(driver)
    assert current["phase"] == "running" and current["step"] == "monitor"
    names = [name for name, _ in calls]
    assert names == ["local_start_workspace", "local_start_runner"]
    runner_payload = calls[1][1]
    assert runner_payload["scheduler_address"] == "tcp://127.0.0.1:8786"
    assert runner_payload["results_url"] == "runs/r1" and runner_payload["spec"]["name"] == "demo"


def test_progress_updates_status_and_completion_cleans_up(driver):
    driver.start_new("run", "r1", run_input())
    driver.drain(fire_timers=False)
    for update in updates(trials=5, complete=True, failed_every=5):
        driver.raise_event("r1", "progress", update)
        driver.drain(fire_timers=False)
    final = driver.get_status("r1")
    assert final.runtime_status == df.OrchestrationRuntimeStatus.Completed
    out = final.output
    assert out["phase"] == "completed" and out["error"] is None
    assert out["progress"] == {"done": 5, "failed": 1, "budget": 20}
    assert out["best"] == {"loss": 2.5, "params": {"x": 3}}
    assert calls[-1] == ("local_stop_run", {"run_id": "r1", "purge": False})
    assert driver.replay_all_recorded() > 0


def test_two_thousand_trial_events_keep_history_and_status_small(driver):
    driver.start_new("run", "r1", run_input(budget=2000))
    driver.drain(fire_timers=False)
    for update in updates(trials=2000, budget=2000, complete=True):
        driver.raise_event("r1", "progress", update)
        driver.drain(fire_timers=False)
    assert status(driver)["phase"] == "completed"
    assert status(driver)["progress"]["done"] == 2000
    executions = driver.histories("r1")
    assert len(executions) > 1000  # continue_as_new kept each execution short
    assert max(len(history) for history in executions) < 300
    assert len(json.dumps(driver.get_status("r1").output)) < 16_384


def test_duplicate_and_out_of_order_updates_change_nothing(driver):
    driver.start_new("run", "r1", run_input())
    driver.drain(fire_timers=False)
    stream = updates(trials=6)
    for update in [stream[0], stream[3], stream[1], stream[3], stream[2], stream[5], stream[4], stream[5]]:
        driver.raise_event("r1", "progress", update)
        driver.drain(fire_timers=False)
    current = status(driver)
    assert current["progress"]["done"] == 5 and current["best"]["loss"] == pytest.approx(10.0 / 5)


def test_a_silent_runner_is_checked_and_a_dead_one_fails_the_run(driver):
    driver.start_new("run", "r1", run_input(heartbeat=60))
    driver.drain(fire_timers=False)
    driver.advance(timedelta(seconds=61))
    driver.drain(fire_timers=False)
    assert [name for name, _ in calls].count("local_runner_status") == 1
    assert status(driver)["phase"] == "running"
    script["local_runner_status"] = {"state": "exited", "exit_code": 137, "summary": None}
    driver.advance(timedelta(seconds=61))
    driver.drain(fire_timers=False)
    final = status(driver)
    assert final["phase"] == "failed"
    assert final["error"] == {"step": "runner", "reason": "the runner exited with code 137"}
    assert calls[-1][0] == "local_stop_run"


def test_a_runner_that_finished_without_its_last_events_completes_the_run(driver):
    driver.start_new("run", "r1", run_input(heartbeat=60))
    driver.drain(fire_timers=False)
    summary = {"status": "completed", "n_trials": 20, "n_failed": 0, "budget": 20, "best_loss": 0.5,
               "best_params": {"x": 1.0}, "finished_at": "2024-01-01T00:01:00+00:00"}  # fmt: skip
    script["local_runner_status"] = {"state": "exited", "exit_code": 0, "summary": summary}
    driver.advance(timedelta(seconds=61))
    driver.drain(fire_timers=False)
    final = status(driver)
    assert final["phase"] == "completed" and final["best"] == {"loss": 0.5, "params": {"x": 1.0}}


def test_a_run_past_its_deadline_is_stopped_and_failed(driver):
    driver.start_new("run", "r1", run_input(heartbeat=3600, hours=1))
    driver.drain(fire_timers=False)
    driver.advance(timedelta(hours=1, seconds=1))
    driver.drain(fire_timers=False)
    final = status(driver)
    assert final["phase"] == "failed" and final["error"]["step"] == "monitor"
    assert "deadline" in final["error"]["reason"]
    assert calls[-1][0] == "local_stop_run"


def test_cancel_stops_the_runner_and_purges_on_request(driver):
    driver.start_new("run", "r1", run_input())
    driver.drain(fire_timers=False)
    driver.raise_event("r1", "cancel", {"purge": True})
    driver.drain(fire_timers=False)
    assert status(driver)["phase"] == "cancelled"
    assert calls[-2:] == [("local_stop_run", {"run_id": "r1", "purge": True}),
                          ("purge_results", {"results_url": "runs/r1"})]  # fmt: skip


def test_cancel_without_purge_keeps_the_results(driver):
    driver.start_new("run", "r1", run_input())
    driver.drain(fire_timers=False)
    driver.raise_event("r1", "cancel", {"purge": False})
    driver.drain(fire_timers=False)
    assert status(driver)["phase"] == "cancelled"
    assert "purge_results" not in [name for name, _ in calls]


def test_a_failing_step_ends_the_run_failed_naming_the_step_after_cleanup(driver):
    script["local_start_runner"] = RuntimeError("python -m runner would not start: no such file")
    driver.start_new("run", "r1", run_input())
    driver.drain()
    final = status(driver)
    assert final["phase"] == "failed" and final["error"]["step"] == "runner"
    assert "would not start" in final["error"]["reason"]
    assert [name for name, _ in calls].count("local_start_runner") == 3  # retried before failing
    assert calls[-1][0] == "local_stop_run"  # the workspace it had started is removed


def test_a_thousand_parameter_run_completes_with_its_status_under_the_limit(driver):
    params = {f"theta_{i:04d}_of_a_long_parameter_name": 0.123456789 * i for i in range(1000)}
    driver.start_new("run", "r1", run_input())
    driver.drain(fire_timers=False)
    driver.raise_event("r1", "progress", {"done": 3, "budget": 20, "best_loss": 1.5, "best_params": params})
    driver.drain(fire_timers=False)
    running = driver.get_status("r1")
    assert running.custom_status["phase"] == "running"
    assert len(json.dumps(running.custom_status).encode("utf-16-le")) <= 16 * 1024
    shown = running.custom_status["best"]
    assert 0 < len(shown["params"]) < 1000 and shown["params_omitted"] == 1000 - len(shown["params"])
    assert all(params[name] == value for name, value in shown["params"].items())
    driver.raise_event("r1", "progress", {"done": 20, "budget": 20, "terminal": "completed"})
    driver.drain(fire_timers=False)
    final = driver.get_status("r1")
    assert final.runtime_status == df.OrchestrationRuntimeStatus.Completed
    assert final.output["phase"] == "completed" and final.output["best"]["params"] == params
