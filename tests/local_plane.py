"""The run orchestration on the replay driver with scripted activities for the local plane.

Shared by the orchestration, lost-event, cleanup and interleaving tests and the
control-plane load harness, so that each scripts the same plane the same way.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from control_plane.intake import parse_delivery, summarise
from control_plane.orchestrators.environment import bp as environment_bp
from control_plane.orchestrators.run import bp as run_bp
from modelops.events import ProgressEvents
from tests.durable import ReplayDriver
from tests.scripted_activities import ScriptedActivities

fake = ScriptedActivities(
    ("local_start_workspace", "local_start_runner", "local_runner_status", "local_stop_run", "purge_results")
)
calls, script = fake.calls, fake.script


def make_app(*blueprints: df.Blueprint) -> df.DFApp:
    """The run and environment orchestrations, the scripted activities, and `blueprints`."""
    app = df.DFApp()
    for blueprint in (run_bp, environment_bp, *blueprints, fake.bp):
        app.register_functions(blueprint)
    return app


def reset_plane(**answers: Any) -> None:
    """Script a local plane that starts and keeps running; `answers` replace single activities."""
    fake.reset(**{
        "local_start_workspace": {"scheduler_address": "tcp://127.0.0.1:8786", "dashboard_url": None, "workers": 2},
        "local_start_runner": {"runner_id": "local-0", "pid": 4242},
        "local_runner_status": {"state": "running", "exit_code": None, "summary": None},
        "local_stop_run": {"stopped": ["runner", "workers", "scheduler"]},
        "purge_results": {"deleted": 2},
        **answers,
    })  # fmt: skip


def plane_driver(*blueprints: df.Blueprint, **answers: Any) -> ReplayDriver:
    """A replay driver on `make_app(*blueprints)` with the plane scripted by `reset_plane(**answers)`."""
    reset_plane(**answers)
    return ReplayDriver(make_app(*blueprints))


def run_input(run_id="r1", budget=20, heartbeat=60, hours=1):
    start = "2024-01-01T00:00:00+00:00"
    deadline = f"2024-01-01T{hours:02d}:00:00+00:00"
    return {
        "run_id": run_id,
        "spec": {"name": "demo", "budget": {"trials": budget}, "compute": {"workers": 2}},
        "spec_dir": "/app",
        "target": "local",
        "environment": "dev",
        "results_url": f"runs/{run_id}",
        "heartbeat_seconds": heartbeat,
        "deadline": deadline,
        "phase": "accepted",
        "submitted_at": start,
    }


def updates(run_id="r1", trials=5, budget=20, complete=False, failed_every=0):
    """Progress updates, one per event, exactly as the intake folds the runner's events."""
    events = ProgressEvents(run_id, budget)
    raw = [events.run_started(algorithm="optuna")]
    for n in range(trials):
        failed = failed_every and n % failed_every == failed_every - 1
        raw.append(events.trial_completed(n, f"p{n}", {"x": n}, None if failed else 10.0 / (n + 1),
                                          "failed" if failed else "ok"))  # fmt: skip
    if complete:
        raw.append(events.run_completed({"n_trials": trials}))
    return [summarise(parse_delivery([event])[0])[run_id] for event in raw]


def status(driver, run_id="r1"):
    found = driver.get_status(run_id)
    return found.output if found.output else found.custom_status
