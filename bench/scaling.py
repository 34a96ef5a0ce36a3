"""Does the per-trial cost stay flat as a study grows?

    .venv/bin/python -m bench.scaling [--quick | --trials N]

One cheap run (1 ms x 2 replicates, TPE, busy mode, 2 workers) of 10,000
trials; throughput over its first and its last 1,000 trials, from the time each
trial was reported (`--trials N`: a run of N, windows of N / 10).
Last line: {"trials", "first_tps", "last_tps", "last_first_ratio"}.
"""

from __future__ import annotations

import argparse
import json

from .common import document, spec_and_data, timed_run, workspace

TRIALS, WINDOW = 10_000, 1_000
QUICK_TRIALS, QUICK_WINDOW = 600, 200


def throughput(stamps: list[float], window: int) -> tuple[float, float]:
    """Trials per second over the first and the last `window` trials reported."""
    first = window / (stamps[window] - stamps[0])
    last = window / (stamps[-1] - stamps[-window - 1])
    return first, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (numbers are not meaningful)")
    parser.add_argument("--trials", type=int, help="trials in the run; windows of a tenth of them")
    args = parser.parse_args()
    trials, window = (QUICK_TRIALS, QUICK_WINDOW) if args.quick else (TRIALS, WINDOW)
    if args.trials:
        trials, window = args.trials, args.trials // 10
    phases: dict = {}
    with workspace() as (client, folder):
        spec, observed = spec_and_data(document(1.0, trials), folder)
        seconds = timed_run(client, spec, observed, folder, "scaling", phases=phases)
    first, last = throughput(phases["reported"], window)
    print(f"{trials} trials in {seconds:.1f} s: first {window} at {first:.1f} trials/s, last {window} at {last:.1f} trials/s")
    print(json.dumps({"trials": trials, "first_tps": round(first, 1), "last_tps": round(last, 1),
                      "last_first_ratio": round(last / first, 3)}))  # fmt: skip


if __name__ == "__main__":
    main()
