"""A run's progress stream replayed through the intake and the run orchestration, measured.

Deliveries (lists of runner CloudEvents) go through the intake exactly as `/api/events` and
the Event Grid trigger take them (`parse_delivery` + `forward_progress`, one `progress` event
per run per delivery) into a run orchestration on the replay driver, which is drained every
`per_replay` deliveries so several events reach one replay, as the Azure Storage provider
hands them over. Used by tests/test_control_plane_scale.py and bench/control_plane.py."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from control_plane.api.events import forward_progress
from control_plane.intake import parse_delivery
from modelops.events import ProgressEvents
from tests.local_plane import plane_driver, run_input

RUN_ID = "scale-1"


def trial_stream(trials: int, run_id: str = RUN_ID) -> list[dict[str, Any]]:
    """run.started, one trial.completed per trial (full snapshots), run.completed."""
    events = ProgressEvents(run_id, trials)
    stream = [events.run_started(algorithm="optuna")]
    best = None
    for n in range(trials):
        loss = 1.0 + ((n * 7919) % 1000) / 100.0
        best = loss if best is None else min(best, loss)
        stream.append(events.trial_completed(n, f"p{n}", {"x": n / trials, "y": 1 - n / trials}, loss, "ok"))
    stream.append(events.run_completed({"n_trials": trials}))
    return stream


def replay(deliveries: list[list[dict[str, Any]]], per_replay: int = 1, budget: int | None = None) -> dict[str, Any]:
    """Feed `deliveries` to a fresh run; what it cost and what the run ended as."""
    driver = plane_driver(local_stop_run={"stopped": ["runner"]}, purge_results={"deleted": 0})
    events = sum(len(d) for d in deliveries)
    driver.start_new("run", RUN_ID, run_input(run_id=RUN_ID, budget=budget or events, heartbeat=3600, hours=23))
    driver.drain(fire_timers=False)
    started = len(driver.recordings)
    client, loop = driver.client(), asyncio.new_event_loop()
    cpu = 0.0
    try:
        for number, delivery in enumerate(deliveries, 1):
            body = json.dumps(delivery).encode()
            before = time.process_time()
            progress, rejected = parse_delivery(body)
            loop.run_until_complete(forward_progress(client, progress))
            cpu += time.process_time() - before
            assert not rejected, rejected
            if number % per_replay == 0:
                driver.drain(fire_timers=False)
        driver.drain(fire_timers=False)
    finally:
        loop.close()
    final = driver.get_status(RUN_ID)
    statuses = [r.outcome.state.get("customStatus") for r in driver.recordings if r.instance_id == RUN_ID]
    return {
        "events": events,
        "deliveries": len(deliveries),
        "executions": len(driver.histories(RUN_ID)),
        "replays": len(driver.recordings) - started,
        "max_history": max(len(h) for h in driver.histories(RUN_ID)),
        "max_status_utf16": max(len(json.dumps(s).encode("utf-16-le")) for s in statuses if s is not None),
        "intake_cpu_us_per_event": round(cpu / events * 1e6, 1),
        "phase": (final.output or {}).get("phase"),
        "done": ((final.output or {}).get("progress") or {}).get("done"),
    }
