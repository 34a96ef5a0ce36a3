"""`mops run SPEC` without `--local`: validate here, submit to the API, follow the run to its end."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from modelops.progress_bar import progress_bar

from modelops.bundles import STORE_ENV, BundleError, BundleStore
from modelops.bundles.document import bundled
from modelops.naming import check_run_id
from modelops.spec import RunSpec, SpecError, load_spec, with_overrides

from .api_client import ApiClient, ApiError, ApiUnreachable
from .api_session import api_errors, client_for, settings_or_exit
from .config import check_setting
from .exits import EXIT_API, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID
from .status_view import FINAL_PHASES, echo_outcome, loss_text


def run_remote(
    spec_path: Path,
    *,
    target: str | None,
    environment: str | None,
    run_id: str | None,
    overrides: Mapping[str, Any],
    poll: float,
    follow: bool,
    json_out: bool,
    quiet: bool,
) -> int:
    """Exit code of submitting (and by default following) a run; a bad document never reaches the API."""
    try:
        spec = with_overrides(load_spec(spec_path), **overrides)
        run_id = check_run_id(run_id) if run_id else None
        settings = settings_or_exit()
        target = check_setting("target", target or settings.target)
        environment = check_setting("environment", environment or settings.environment)
    except (SpecError, ValueError) as error:  # ConfigError is a ValueError
        typer.echo(str(error), err=True)
        return EXIT_INVALID
    client = client_for(settings, hint=", or add --local to run on this machine")
    with api_errors():
        base_dir, store = None, None
        if spec.model.bundle is None:  # the document's folder, as a bundle the runners fetch by digest
            try:
                spec, store = push_bundle(spec, spec_path.resolve().parent, client)
            except (BundleError, SpecError) as error:
                typer.echo(str(error), err=True)
                return EXIT_INVALID
            except (ApiError, ApiUnreachable):
                raise
            except Exception as error:  # storage SDKs raise their own types; the message is what matters here
                typer.echo(f"cannot push the bundle: {type(error).__name__}: {error}", err=True)
                return EXIT_API
        elif spec.model.bundle == "installed" and target == "local":
            base_dir = str(spec_path.resolve().parent)  # the app runs here: data paths start at the document
        document = spec.model_dump(mode="json", by_alias=True)
        run_id = client.submit_run(document, target, environment, run_id, base_dir, store)["run_id"]
        if not follow:
            typer.echo(run_id)
            if json_out:
                typer.echo(json.dumps({"run_id": run_id}))
            return 0
        typer.echo(f"submitted {run_id} ({target}, environment {environment})", err=True)
        try:
            status = follow_run(client, run_id, poll=poll, quiet=quiet)
        except KeyboardInterrupt:
            typer.echo(f"stopped following; the run goes on: `mops status {run_id}`, `mops cancel {run_id}`", err=True)
            return EXIT_INTERRUPTED
    echo_outcome(status)
    if json_out:
        typer.echo(json.dumps(status, default=str))
    return 0 if status.get("phase") == "completed" else EXIT_FAILED


def push_bundle(spec: RunSpec, spec_dir: Path, client: ApiClient) -> tuple[RunSpec, str]:
    """Bundle the document's folder and push it where the API's runners fetch it; the document naming it, the store."""
    spec, bundle = bundled(spec, spec_dir)
    store_url = os.environ.get(STORE_ENV) or client.bundle_store()
    store = BundleStore(store_url)
    uploaded = store.push(bundle)
    done = "pushed to" if uploaded else "already in"
    typer.echo(f"bundle {bundle.digest} ({len(bundle.files)} files, {bundle.size} bytes) {done} {store}", err=True)
    return spec, store_url


def follow_run(client: ApiClient, run_id: str, *, poll: float, quiet: bool) -> dict[str, Any]:
    """Poll the run's status until a final phase, drawing phase, done/budget, failed and best loss on stderr."""
    progress = progress_bar(disable=quiet)
    with progress:
        task = progress.add_task(run_id, total=None, failed=0, best="-")
        while True:
            status = client.run_status(run_id)
            counts = status.get("progress") or {}
            progress.update(
                task,
                description=f"{run_id} {status.get('phase')}",
                total=counts.get("budget"),
                completed=counts.get("done", 0),
                failed=counts.get("failed", 0),
                best=loss_text(status),
            )
            if status.get("phase") in FINAL_PHASES:
                return status
            time.sleep(poll)
