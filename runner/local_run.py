"""A calibration on this machine, from a validated document to results a report can be drawn from.

Shared by `mops run --local` and the Python API (`modelops.calibrate`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelops.bundles import STORE_ENV
from modelops.naming import check_run_id, new_run_id
from modelops.provenance import provenance
from modelops.run_checks import check_run
from modelops.services.sim_cache import CACHE_ENV as SIM_CACHE_ENV
from modelops.spec import RunSpec
from modelops.storage import open_results
from modelops.storage.results_url import LocalTarget, parse_results_url

from .bundle_plugin import bundle_on_workers, sim_cache_counts
from .calibrate import calibrate
from .cluster import local_client
from .report import save_fit_inputs
from .study import storage_kind


def run_local(
    spec: RunSpec,
    base_dir: Path,
    *,
    results: str | None = None,
    out: Path = Path("runs"),
    run_id: str | None = None,
    storage: str = "memory",
    runner_id: str | None = None,
    events: Sequence[str] = (),
    deterministic: bool = False,
    force: bool = False,
    overwrite: bool = False,
    processes: bool = True,
    build: bool = True,
    sim_cache: str | None = None,
) -> dict[str, Any]:
    """Bundle, check, calibrate on a local Dask cluster, keep what the report needs; return the run summary.

    The model imports, and its data is read, from the bundle of `base_dir` (the
    document's folder) or the pushed bundle the document names; without `build`
    an unbundled document is taken as `installed` (importable here, data
    relative to `base_dir`). `processes=False` runs the Dask workers as threads of this process: simulations
    run in their own warm child processes anyway, and no worker process has to
    re-import a script or notebook that lacks a `__main__` guard. `sim_cache` (a folder or blob
    URL) keeps the bundle's simulation outputs and reuses them (`modelops.services.sim_cache`).
    """
    kind = storage_kind(storage)  # a bad URL is input error, found before any work
    opened, observed = check_run(spec, base_dir, build=build)
    spec = opened.spec
    run_id = check_run_id(run_id) if run_id else new_run_id(spec.name)
    results = results or str(out / run_id)
    if not overwrite:
        refuse_to_overwrite(results, run_id, resuming=kind != "memory")
    sim_cache = sim_cache or os.environ.get(SIM_CACHE_ENV)
    with local_client(spec.compute.workers, spec.compute.threads_per_worker, processes=processes) as client:
        bundle_on_workers(client, opened.bundle, os.environ.get(STORE_ENV), sim_cache)
        summary = calibrate(
            spec,
            observed,
            client,
            run_id=run_id,
            results_url=results,
            storage_url=storage,
            runner_id=runner_id,
            events=events,
            deterministic=deterministic,
            force=force,
            provenance=provenance(spec, opened.base_dir),
        )
        if sim_cache:
            summary["sim_cache"] = {"url": sim_cache} | sim_cache_counts(client, opened.bundle)
    save_fit_inputs(open_results(summary["results"]), spec, observed)
    return summary


def refuse_to_overwrite(results: str, run_id: str, *, resuming: bool) -> None:
    """A `ValueError` if a local results folder holds another run (or this one, with nothing to resume from)."""
    target = parse_results_url(results)
    if not isinstance(target, LocalTarget):
        return
    summary = target.folder / "summary.json"
    if not (summary.is_file() or (target.folder / "trials.parquet").is_file()):
        return
    try:
        previous = json.loads(summary.read_text()).get("run_id")
    except (OSError, ValueError):
        previous = None
    if resuming and previous in (run_id, None):  # None: a run killed before its summary, resumed from its study
        return
    raise ValueError(
        f"results folder {target.folder} already holds run {previous or '(unknown)'}: "
        "pass --overwrite to replace it, or another --out / --results / --run-id"
    )
