"""Control-plane orchestration executions per run-minute: coalesced publisher vs one per trial.

    .venv/bin/python -m bench.control_plane [--quick] [--seconds S] [--rate TRIALS_PER_S]

A synthetic run publishes trial events at `rate` per second for `seconds` of real time
through the runner's real Publisher, once with the old remote-sink settings (no
coalescing, 0.5 s flushes) and once with `control_plane_options` (newest trial snapshot
only, at most every 2 s). The Event Grid trigger takes one event per call, so every
delivered event is fed alone through the intake into the run orchestration on the replay
driver. Prints a table, then a last line of JSON: executions per run-minute for both,
their ratio, the orchestration replays, the intake's CPU per event, and the worst status
staleness (time from a trial's event to the first delivery that includes its count).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

from modelops.events import Publisher
from modelops.events.publisher import control_plane_options
from modelops.events.sinks import Sink
from tests.control_plane_load import replay, trial_stream


class Capture(Sink):
    """Records every batch with the time it was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, list[dict[str, Any]]]] = []
        self._lock = threading.Lock()

    def send(self, batch: list[dict[str, Any]]) -> None:
        with self._lock:
            self.sent.append((time.monotonic(), list(batch)))

    def close(self) -> None:
        pass


def publish(seconds: float, rate: float, options: dict[str, Any]) -> tuple[list[list[dict]], float]:
    """Deliveries made of a run's events at `rate`/s, and the worst staleness in seconds."""
    trials = int(seconds * rate)
    stream = trial_stream(trials)
    sink = Capture()
    publisher = Publisher(sink, **options)
    published_at: dict[int, float] = {}
    start = time.monotonic()
    for index, event in enumerate(stream):
        time.sleep(max(0.0, start + index / rate - time.monotonic()))
        published_at[index] = time.monotonic()
        publisher.publish(event)
    publisher.close(timeout=10)
    worst, shown = 0.0, 0  # events up to index `shown` are covered by some delivery
    for sent_at, batch in sink.sent:
        done = max((e["data"]["counts"]["done"] for e in batch), default=0)
        covered = done + (1 if any(e["type"] == "modelops.run.completed" for e in batch) else 0)
        for index in range(shown, covered + 1):  # stream[index] reports done == index
            worst = max(worst, sent_at - published_at[index])
        shown = max(shown, covered + 1)
    return [batch for _, batch in sink.sent], worst


def measure(name: str, seconds: float, rate: float, options: dict[str, Any]) -> dict[str, Any]:
    deliveries, staleness = publish(seconds, rate, options)
    calls = [[event] for batch in deliveries for event in batch]  # the trigger: one event per call
    found = replay(calls, budget=int(seconds * rate))
    minutes = seconds / 60
    return {"name": name, "events_sent": len(calls), "executions": found["executions"],
            "replays": found["replays"], "executions_per_run_minute": round(found["executions"] / minutes, 1),
            "intake_cpu_us_per_event": found["intake_cpu_us_per_event"],
            "max_staleness_s": round(staleness, 2), "phase": found["phase"], "done": found["done"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s of run time (a smoke run)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=50.0, help="trials per second")
    args = parser.parse_args()
    seconds = 10.0 if args.quick else args.seconds
    before = measure("one event per trial", seconds, args.rate, {"flush_interval": 0.5})
    after = measure("coalesced", seconds, args.rate, control_plane_options("https://example.invalid/api/events"))
    for row in (before, after):
        print(f"{row['name']:>22}: {row['events_sent']:>6} events, {row['executions']:>6} executions "
              f"({row['executions_per_run_minute']}/run-minute), {row['replays']} replays, intake "
              f"{row['intake_cpu_us_per_event']} us CPU/event, staleness <= {row['max_staleness_s']} s, "
              f"{row['phase']} at {row['done']}")  # fmt: skip
    print(json.dumps({
        "seconds": seconds, "rate": args.rate,
        "executions_per_run_minute_before": before["executions_per_run_minute"],
        "executions_per_run_minute_after": after["executions_per_run_minute"],
        "ratio": round(after["executions_per_run_minute"] / before["executions_per_run_minute"], 4),
        "replays_before": before["replays"], "replays_after": after["replays"],
        "intake_cpu_us_per_event_before": before["intake_cpu_us_per_event"],
        "intake_cpu_us_per_event_after": after["intake_cpu_us_per_event"],
        "max_staleness_s_after": after["max_staleness_s"],
    }))


if __name__ == "__main__":
    main()
