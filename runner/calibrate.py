"""One calibration from a validated document to written results.

Shared by `mops run --local` and `python -m runner`, so both produce the same
results, events and summary.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import polars as pl
from distributed import Client

from modelops.spec import RunSpec, spec_digest

from .algorithms import build_algorithm
from .algorithms.abc_smc import AbcSmc
from .confirm import confirm, evaluation_sd
from .engine import CalibrationError, Engine
from .identifiability import identifiability
from .interrupt import Interruption, graceful_stop
from .ledger import Counts, Ledger, LedgerError
from .reporting import Reporter
from .results import parquet_bytes
from .results_writer import ResultsWriter, check_results
from .study import open_storage, sampler_seed, storage_kind
from .trials import TrialRecord

# Seconds in-flight trials get to finish after SIGINT or SIGTERM.
GRACE_SECONDS = 10.0
MARK_SECONDS = 1.0
log = logging.getLogger(__name__)


class RunFailed(RuntimeError):
    """The run could not start (e.g. its study is unreachable); `modelops.run.failed` was sent."""


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
    grace_seconds: float = GRACE_SECONDS,
    force: bool = False,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run (or join, or resume) the calibration `run_id`; write its results; return the summary.

    Runners given the same `run_id` and a shared `storage_url` split the budget.
    A run that cannot go on still writes its results, so no finished trial is
    lost; its summary has status "failed" and the error, and `modelops.run.failed`
    is sent. SIGINT or SIGTERM stop it the same way with status "interrupted".
    Bad input (storage URL, results location, resuming with another document
    unless `force`) is a `ValueError` before any work.
    `provenance` (bundle digest, target file hashes, versions) goes into the summary.
    """
    kind = storage_kind(storage_url)
    if spec.compute.runners > 1 and kind != "postgresql":
        raise ValueError(f"compute.runners: {spec.compute.runners} runners need a PostgreSQL study, not {kind}")
    runner_id = runner_id or default_runner_id()
    started = time.time()
    writer = ResultsWriter(check_results(results_url), run_id, list(spec.parameters), list(spec.targets))
    reporter = Reporter(run_id, spec.budget.trials, events)
    try:
        document = spec.model_dump(mode="json", by_alias=True)
        storage, ledger = open_storage(storage_url, run_id, runner_id, spec.budget.trials, document, force)
    except Exception as exc:
        reason = f"the study storage cannot be opened: {type(exc).__name__}: {_first_line(exc)}"
        reporter.failed(reason)
        reporter.close()
        if isinstance(exc, (ValueError, LedgerError)):
            raise
        raise RunFailed(reason) from None
    engine: Engine | None = None
    base_seed = spec.seed if spec.seed is not None else secrets.randbits(32)
    error: Exception | None = None
    confirmed, confirmations, posterior = None, [], None
    with graceful_stop(grace_seconds) as interruption:
        try:
            at_start = ledger.counts()
            seed = sampler_seed(base_seed, runner_id, kind == "postgresql", at_start.done + at_start.leased)
            history = ledger.records() if at_start.done else []
            algorithm = build_algorithm(spec, seed=seed, study_name=run_id, storage=storage, history=history)
            engine = Engine(client, spec, observed, algorithm, ledger, deterministic=deterministic)
            marks = _Marks(ledger, reporter)
            engine.on_trial = _each(reporter.trial, lambda *_: writer.progress(ledger.records), marks.due, on_trial)
            interruption.attach(engine.stop)
            reporter.started(runner=runner_id, budget=spec.budget.trials, algorithm=spec.algorithm.name)
            for record in ledger.unreported():  # finished before a crash that kept their events from being sent
                reporter.trial(record, at_start)
            engine.run()
            if isinstance(algorithm, AbcSmc):
                posterior = algorithm.summary()
                writer.write("posterior.parquet", parquet_bytes(algorithm.posterior()))
            elif spec.confirm.top and interruption.signal is None:

                def phase_engine(algorithm, phase, seeds, mark):
                    phased = Engine(client, spec, observed, algorithm, phase, deterministic=deterministic, seeds=seeds,
                                    stop_at_target=False)  # fmt: skip
                    phased.on_trial = lambda record, counts: reporter.confirmation(mark(record), counts)
                    interruption.attach(phased.stop)
                    return phased

                reporter.searched(ledger.counts())
                confirmed, confirmations = confirm(phase_engine, spec, ledger)
        except Exception as exc:  # whatever ends the run early, its results and its end are reported
            error = exc
            if not isinstance(exc, CalibrationError):
                log.debug("the calibration stopped", exc_info=True)
    with contextlib.suppress(Exception):  # the study's last tells (the ledger has them: a resume tells them again)
        getattr(storage, "flush", lambda: None)()
    try:
        records, counts = ledger.records() + confirmations, ledger.counts()
    except Exception:  # the study is unreachable: what this runner knows
        records, counts = _known_records(writer.records, engine), None
    fallback_error = writer.final(records)
    status, reason = _outcome(error, interruption, fallback_error)
    search = [r for r in records if r.phase == "search"]
    summary = _summary(spec, counts or _counts_of(search, spec.budget.trials), status, reason) | (confirmed or {}) | {
        "run_id": run_id,
        "runner_id": runner_id,
        "evaluated_here": 0 if engine is None else sum(r.finished_at is not None for r in engine.evaluated),
        "storage": kind,
        "algorithm": {"name": spec.algorithm.name, "sampler": spec.algorithm.sampler, "seed": base_seed},
        "mode": "deterministic" if deterministic else "busy",
        "spec_sha256": spec_digest(spec),
        "started_at": _iso(started),
        "finished_at": _iso(time.time()),
        "elapsed_seconds": round(time.time() - started, 3),
        "results": str(writer.location),
    }
    if fallback_error is not None:
        summary["results_fallback"] = str(writer.location)
    if provenance is not None:
        summary["provenance"] = dict(provenance)
    if posterior is None and records:
        found = identifiability(records, spec.parameters, evaluation_sd(confirmed), (confirmed or {}).get("best_loss"))
        if found is not None:
            summary["identifiability"] = found
    if posterior is not None:
        summary["posterior"] = posterior
        if summary["stopped"] == "space_exhausted":  # the algorithm ended before the budget: say why
            summary["stopped"] = posterior["stopped"]
    if interruption.signal is not None:
        summary["signal"] = interruption.name
    try:
        reporter.finished(summary)
    finally:
        summary["events"] = reporter.close()
        with contextlib.suppress(Exception):  # an unreachable study must not hide the results
            ledger.mark_reported(reporter.take_reported())
        with contextlib.suppress(Exception):
            ledger.close()
    writer.summary(summary)
    return summary


def exit_code(summary: Mapping[str, Any]) -> int:
    """0 completed, 1 failed, 128 + signal number when interrupted (130 SIGINT, 143 SIGTERM)."""
    if summary["status"] == "completed":
        return 0
    if summary["status"] == "interrupted":
        return 128 + signal.Signals[summary["signal"]].value
    return 1


def _outcome(error: Exception | None, interruption: Interruption, fallback_error: str | None) -> tuple[str, str | None]:
    """The run's status and the reason it did not complete."""
    if error is not None:
        reason = str(error) if isinstance(error, CalibrationError) else f"{type(error).__name__}: {_first_line(error)}"
        return "failed", reason if fallback_error is None else f"{reason}; {fallback_error}"
    if fallback_error is not None:
        return "failed", fallback_error
    if interruption.signal is not None:
        return "interrupted", f"interrupted ({interruption.name})"
    return "completed", None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def _known_records(written: list[TrialRecord], engine: Engine | None) -> list[TrialRecord]:
    """The trials last read from the study and those finished here since, once each, in lease order."""
    known = {r.param_id: r for r in written}
    for record in [] if engine is None else engine.evaluated:
        if record.finished_at is not None:
            known.setdefault(record.param_id, record)
    return sorted(known.values(), key=lambda r: r.number)


def _counts_of(records: Sequence[TrialRecord], budget: int) -> Counts:
    completed = [r for r in records if r.status == "completed"]
    best = min(completed, key=lambda r: (r.loss, r.number), default=None)
    return Counts(budget, 0, len(records), sum(r.status == "failed" for r in records), best)


class _Marks:
    """Marks in the ledger the trials every event sink took, at most every `MARK_SECONDS`."""

    def __init__(self, ledger: Ledger, reporter: Reporter):
        self.ledger, self.reporter = ledger, reporter
        self.at = time.monotonic()

    def due(self, *_: Any) -> None:
        if time.monotonic() - self.at >= MARK_SECONDS:
            self.at = time.monotonic()
            self.ledger.mark_reported(self.reporter.take_reported())


def _each(*callbacks: Callable | None) -> Callable:
    def call(*args: Any) -> None:
        for callback in callbacks:
            if callback is not None:
                callback(*args)

    return call


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def _summary(spec: RunSpec, counts: Counts, status: str, reason: str | None) -> dict[str, Any]:
    best = counts.best
    if status != "completed":
        stopped = status
    elif spec.budget.target_loss is not None and best is not None and best.loss <= spec.budget.target_loss:
        stopped = "target_loss"
    elif counts.done >= counts.budget:
        stopped = "budget"
    else:
        stopped = "space_exhausted"
    return {
        "name": spec.name,
        "status": status,
        "error": reason,
        "stopped": stopped,
        "best_params": None if best is None else best.params,
        "best_loss": None if best is None else best.loss,
        "best_loss_se": None,
        "best_search_loss": None if best is None else best.loss,
        "best_param_id": None if best is None else best.param_id,
        "best_target_losses": None if best is None else best.target_losses,
        "n_trials": counts.done,
        "n_completed": counts.done - counts.failed,
        "n_failed": counts.failed,
        "budget": counts.budget,
        "replicates": spec.replicates,
    }
