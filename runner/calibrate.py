"""One calibration from a validated document to written results.

Shared by `mops run --local` and `python -m runner`, so both produce the same
results and summary.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import polars as pl
from distributed import Client

from modelops.spec import RunSpec, spec_digest
from modelops.storage import open_results

from .algorithms import build_algorithm
from .engine import CalibrationError, Engine
from .results import json_bytes, parquet_bytes, trials_frame
from .trials import Progress, TrialRecord


def calibrate(
    spec: RunSpec,
    observed: Mapping[str, pl.DataFrame],
    client: Client,
    *,
    run_id: str,
    results_url: str,
    deterministic: bool = False,
    on_trial: Callable[[TrialRecord, Progress], None] | None = None,
) -> dict[str, Any]:
    """Run the calibration and write `trials.parquet` and `summary.json`; return the summary.

    A run that cannot go on (`CalibrationError`) still writes its results, so no
    finished trial is lost; its summary has status "failed" and the error.
    """
    seed = spec.seed if spec.seed is not None else secrets.randbits(32)
    started = time.time()
    algorithm = build_algorithm(spec, seed=seed, study_name=run_id)
    engine = Engine(client, spec, observed, algorithm, deterministic=deterministic, on_trial=on_trial)
    error: CalibrationError | None = None
    try:
        engine.run()
    except CalibrationError as exc:
        error = exc
    location = open_results(results_url)
    finished = [r for r in engine.records if r.finished_at is not None]  # a failed run leaves some unfinished
    frame = trials_frame(finished, list(spec.parameters), list(spec.targets))
    location.write_bytes("trials.parquet", parquet_bytes(frame))
    summary = _summary(spec, engine, run_id, seed, deterministic, started, str(location), error)
    location.write_bytes("summary.json", json_bytes(summary))
    return summary


def _summary(
    spec: RunSpec,
    engine: Engine,
    run_id: str,
    seed: int,
    deterministic: bool,
    started: float,
    results: str,
    error: Exception | None,
) -> dict[str, Any]:
    progress = engine.progress
    best = progress.best
    if error is not None:
        stopped = "failed"
    elif spec.budget.target_loss is not None and best is not None and best.loss <= spec.budget.target_loss:
        stopped = "target_loss"
    elif progress.done >= spec.budget.trials:
        stopped = "budget"
    else:
        stopped = "space_exhausted"
    finished = time.time()
    return {
        "run_id": run_id,
        "name": spec.name,
        "status": "failed" if error is not None else "completed",
        "error": None if error is None else str(error),
        "stopped": stopped,
        "best_params": None if best is None else best.params,
        "best_loss": None if best is None else best.loss,
        "best_param_id": None if best is None else best.param_id,
        "best_target_losses": None if best is None else best.target_losses,
        "n_trials": progress.done,
        "n_completed": progress.done - progress.failed,
        "n_failed": progress.failed,
        "budget": spec.budget.trials,
        "replicates": spec.replicates,
        "algorithm": {"name": spec.algorithm.name, "sampler": spec.algorithm.sampler, "seed": seed},
        "mode": "deterministic" if deterministic else "busy",
        "spec_sha256": spec_digest(spec),
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(),
        "finished_at": datetime.fromtimestamp(finished, timezone.utc).isoformat(),
        "elapsed_seconds": round(finished - started, 3),
        "results": results,
    }
