"""What the benchmarks share: the document, a local Dask cluster, one timed run.

Every benchmark prints a table and then, as its last line, one JSON object of
ratios or costs measured in that same run, so a busy machine slows both sides.
The document turns the confirmation phase off (`confirm: {top: 0}`): its
`top * repeats` extra evaluations are a documented extra budget the baselines
do not spend, so a loop-throughput comparison must not count them.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
from distributed import Client

from modelops.services.executor import warm
from modelops.spec import RunSpec, parse_spec, preflight
from runner.calibrate import calibrate
from runner.cluster import local_client

WORKERS = 2


def document(ms: float, trials: int, **extra) -> dict:
    """`bench.models:spin` burning `ms` per replicate, 2 replicates, TPE, an MSE target, no confirmation phase."""
    return {
        "name": "bench",
        "model": {"entrypoint": "bench.models:spin"},
        "parameters": {"x": {"low": 0.0, "high": 1.0}, "y": {"low": 0.0, "high": 1.0}, "ms": {"choices": [ms]}},
        "targets": {"out": {"data": "target.csv", "keys": ["t"], "value": "value"}},
        "budget": {"trials": trials},
        "replicates": 2,
        "seed": 1,
        "confirm": {"top": 0},
    } | extra


def quick_flag(description: str) -> bool:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (numbers are not meaningful)")
    return parser.parse_args().quick


@contextlib.contextmanager
def workspace() -> Iterator[tuple[Client, Path]]:
    """The cluster `mops run --local` makes (`WORKERS` single-thread worker processes), and the target data's folder."""
    folder = Path(tempfile.mkdtemp(prefix="modelops-bench-"))
    pl.DataFrame({"t": [0, 1], "value": [0.5, 0.5]}).write_csv(folder / "target.csv")
    with local_client(WORKERS, threads_per_worker=1) as client:
        client.run(warm, "bench.models:spin")  # start each worker's simulation child off the clock
        yield client, folder


def spec_and_data(raw: dict, folder: Path) -> tuple[RunSpec, dict[str, pl.DataFrame]]:
    spec = parse_spec(raw)
    return spec, preflight(spec, folder)


def timed_run(
    client, spec, observed, folder: Path, run_id: str, storage: str = "memory", phases: dict | None = None
) -> float:
    """Wall seconds of one `calibrate` call, which must evaluate the whole budget without failures.

    `phases`, if given, receives what happened inside that time: "reported", the
    `perf_counter` time each trial was reported; "startup", from the call to the first
    trial reported less that trial's own simulation time; "teardown", from the last
    trial reported to the return (final results, summary).
    """
    stamps: list[tuple[float, float]] = []
    started = time.perf_counter()
    summary = calibrate(
        spec, observed, client, run_id=run_id, results_url=str(folder / run_id), storage_url=storage,
        on_trial=lambda record, _: stamps.append((time.perf_counter(), record.sim_seconds)),
    )  # fmt: skip
    ended = time.perf_counter()
    assert summary["n_trials"] == spec.budget.trials and summary["n_failed"] == 0, summary
    if phases is not None:
        phases["reported"] = [at for at, _ in stamps]
        phases["startup"] = stamps[0][0] - started - stamps[0][1]
        phases["teardown"] = ended - stamps[-1][0]
    return ended - started
