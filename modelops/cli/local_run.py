"""`mops run --local`: the embedded default, no cloud at all."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modelops.naming import check_run_id, new_run_id
from modelops.spec import load_spec, preflight, with_overrides


def run_local(
    spec_path: Path,
    *,
    out: Path,
    run_id: str | None,
    overrides: Mapping[str, Any],
    deterministic: bool,
    progress: bool,
) -> dict[str, Any]:
    """Validate, check, calibrate on a local Dask cluster; return the run summary."""
    spec = with_overrides(load_spec(spec_path), **overrides)
    observed = preflight(spec, spec_path.resolve().parent)
    run_id = check_run_id(run_id) if run_id else new_run_id(spec.name)

    from runner.calibrate import calibrate
    from runner.cluster import local_client

    with _progress_bar(progress, spec.budget.trials) as on_trial, local_client(
        spec.compute.workers, spec.compute.threads_per_worker
    ) as client:
        return calibrate(
            spec,
            observed,
            client,
            run_id=run_id,
            results_url=str(out / run_id),
            deterministic=deterministic,
            on_trial=on_trial,
        )


class _progress_bar:
    """A rich progress bar on stderr fed by trial callbacks (or nothing when disabled)."""

    def __init__(self, enabled: bool, budget: int):
        self._bar = (
            Progress(
                TextColumn("calibrating"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("failed {task.fields[failed]}  best {task.fields[best]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            if enabled
            else None
        )
        self._budget = budget

    def __enter__(self):
        if self._bar is None:
            return None
        self._bar.start()
        task = self._bar.add_task("trials", total=self._budget, failed=0, best="-")

        def on_trial(record, progress) -> None:
            best = "-" if progress.best is None else f"{progress.best.loss:.4g}"
            self._bar.update(task, completed=progress.done, failed=progress.failed, best=best)

        return on_trial

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
