"""`mops run --local`: the embedded default, no cloud at all."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelops.bundles import STORE_ENV
from modelops.bundles.document import open_model
from modelops.naming import check_run_id, new_run_id
from modelops.provenance import provenance
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
    """Bundle, validate, check, calibrate on a local Dask cluster; return the run summary.

    The model imports, and its data is read, from the bundle of the document's
    folder (or the pushed bundle it names), wherever the command runs from.
    """
    from runner.bundle_plugin import bundle_on_workers
    from runner.calibrate import calibrate
    from runner.cluster import local_client
    from runner.study import storage_kind

    spec = with_overrides(load_spec(spec_path), **overrides)
    storage_kind(storage)  # a bad URL is input error, found before any work
    store_url = os.environ.get(STORE_ENV)
    opened = open_model(spec, spec_path.resolve().parent, store_url)
    spec = opened.spec
    observed = preflight(spec, opened.base_dir)
    run_id = check_run_id(run_id) if run_id else new_run_id(spec.name)
    with local_client(spec.compute.workers, spec.compute.threads_per_worker) as client:
        bundle_on_workers(client, opened.bundle, store_url)
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
            provenance=provenance(spec, opened.base_dir),
        )
