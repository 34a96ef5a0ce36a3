"""One calibration from a validated document to written results.

Shared by `mops run --local` and `python -m runner`, so both produce the same
results, events and summary.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import polars as pl
from distributed import Client

from modelops.spec import RunSpec, spec_digest
from modelops.storage import open_results

from .algorithms import build_algorithm
from .engine import CalibrationError, Engine
from .ledger import Counts
from .reporting import Reporter
from .results import json_bytes, parquet_bytes, trials_frame
from .study import open_storage, sampler_seed, storage_kind
from .trials import TrialRecord


def default_runner_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


def calibrate(
    spec: RunSpec,
    observed: Mapping[str, pl.DataFrame],
    client: Client,
    *,
    run_id: str,
    results_url: str,
    storage_url: str = "memory",
    runner_id: str | None = None,
    events: Sequence[str] = (),
    deterministic: bool = False,
    on_trial: Callable[[TrialRecord, Counts], None] | None = None,
) -> dict[str, Any]:
    """Run (or join, or resume) the calibration `run_id`; write its results; return the summary.

    Runners given the same `run_id` and a shared `storage_url` split the budget.
    A run that cannot go on (`CalibrationError`) still writes its results, so no
    finished trial is lost; its summary has status "failed" and the error.
    """
    kind = storage_kind(storage_url)
    if spec.compute.runners > 1 and kind != "postgresql":
        raise ValueError(f"compute.runners: {spec.compute.runners} runners need a PostgreSQL study, not {kind}")
    runner_id = runner_id or default_runner_id()
    started = time.time()
    storage, ledger = open_storage(storage_url, run_id, runner_id, spec.budget.trials)
    reporter = Reporter(run_id, spec.budget.trials, events)
    try:
        base_seed = spec.seed if spec.seed is not None else secrets.randbits(32)
        at_start = ledger.counts()
        seed = sampler_seed(base_seed, runner_id, kind == "postgresql", at_start.done + at_start.leased)
        algorithm = build_algorithm(spec, seed=seed, study_name=run_id, storage=storage)
        engine = Engine(client, spec, observed, algorithm, ledger, deterministic=deterministic)
        engine.on_trial = _each(reporter.trial, on_trial)
        reporter.started(runner=runner_id, budget=spec.budget.trials, algorithm=spec.algorithm.name)
        error: CalibrationError | None = None
        try:
            engine.run()
        except CalibrationError as exc:
            error = exc
        location = open_results(results_url)
        frame = trials_frame(ledger.records(), list(spec.parameters), list(spec.targets))
        location.write_bytes("trials.parquet", parquet_bytes(frame))
        summary = _summary(spec, ledger.counts(), error) | {
            "run_id": run_id,
            "runner_id": runner_id,
            "evaluated_here": sum(r.finished_at is not None for r in engine.evaluated),
            "storage": kind,
            "algorithm": {"name": spec.algorithm.name, "sampler": spec.algorithm.sampler, "seed": base_seed},
            "mode": "deterministic" if deterministic else "busy",
            "spec_sha256": spec_digest(spec),
            "started_at": _iso(started),
            "finished_at": _iso(time.time()),
            "elapsed_seconds": round(time.time() - started, 3),
            "results": str(location),
        }
        reporter.finished(summary)
    finally:
        events_sent = reporter.close()
        ledger.close()
    summary["events"] = events_sent
    location.write_bytes("summary.json", json_bytes(summary))
    return summary


def _each(*callbacks: Callable | None) -> Callable:
    def call(*args: Any) -> None:
        for callback in callbacks:
            if callback is not None:
                callback(*args)

    return call


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def _summary(spec: RunSpec, counts: Counts, error: Exception | None) -> dict[str, Any]:
    best = counts.best
    if error is not None:
        stopped = "failed"
    elif spec.budget.target_loss is not None and best is not None and best.loss <= spec.budget.target_loss:
        stopped = "target_loss"
    elif counts.done >= counts.budget:
        stopped = "budget"
    else:
        stopped = "space_exhausted"
    return {
        "name": spec.name,
        "status": "failed" if error is not None else "completed",
        "error": None if error is None else str(error),
        "stopped": stopped,
        "best_params": None if best is None else best.params,
        "best_loss": None if best is None else best.loss,
        "best_param_id": None if best is None else best.param_id,
        "best_target_losses": None if best is None else best.target_losses,
        "n_trials": counts.done,
        "n_completed": counts.done - counts.failed,
        "n_failed": counts.failed,
        "budget": counts.budget,
        "replicates": spec.replicates,
    }
