"""`mops run --local`: the embedded default, no cloud at all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelops.naming import check_run_id, new_run_id
from modelops.spec import load_spec, preflight, with_overrides


def run_local(
    spec_path: Path,
    *,
    results: str | None,
    out: Path,
    run_id: str | None,
    storage: str,
    runner_id: str | None,
    events: Sequence[str],
    overrides: Mapping[str, Any],
    deterministic: bool,
    force: bool = False,
) -> dict[str, Any]:
    """Validate, check, calibrate on a local Dask cluster; return the run summary."""
    from runner.calibrate import calibrate
    from runner.cluster import local_client
    from runner.study import storage_kind

    spec = with_overrides(load_spec(spec_path), **overrides)
    storage_kind(storage)  # a bad URL is input error, found before any work
    observed = preflight(spec, spec_path.resolve().parent)
    run_id = check_run_id(run_id) if run_id else new_run_id(spec.name)
    with local_client(spec.compute.workers, spec.compute.threads_per_worker) as client:
        return calibrate(
            spec,
            observed,
            client,
            run_id=run_id,
            results_url=results or str(out / run_id),
            storage_url=storage,
            runner_id=runner_id,
            events=events,
            deterministic=deterministic,
            force=force,
        )
