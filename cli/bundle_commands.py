"""`mops bundle build|push`: a model folder as a content-addressed bundle, and storing it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from modelops.bundles import BundleError, BundleStore, build_bundle

from .exits import EXIT_API, EXIT_INVALID

bundle_app = typer.Typer(help="Model bundles: a folder's code and data, named by their digest.", no_args_is_help=True, rich_markup_mode=None)


def _build(folder: Path):
    try:
        return build_bundle(folder)
    except BundleError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(EXIT_INVALID) from None


@bundle_app.command()
def build(
    folder: Path = typer.Argument(..., help="The model folder (the run document's folder)."),
    json_out: bool = typer.Option(False, "--json", help="Print the digest and files as JSON."),
) -> None:
    """Print the bundle's digest and the files that go in (what .modelopsignore leaves out does not)."""
    started = time.perf_counter()
    bundle = _build(folder)
    if json_out:
        files = [{"path": f.path, "size": f.size} for f in bundle.files]
        typer.echo(json.dumps({"digest": bundle.digest, "size": bundle.size, "files": files}))
        return
    for entry in bundle.files:
        typer.echo(f"{entry.size:>12}  {entry.path}")
    typer.echo(f"{len(bundle.files)} files, {bundle.size} bytes, built in {time.perf_counter() - started:.2f} s")
    typer.echo(bundle.digest)


@bundle_app.command()
def push(
    folder: Path = typer.Argument(..., help="The model folder (the run document's folder)."),
    to: str = typer.Option(..., "--to", help="Bundle store: a folder or a blob URL (https://<account>.blob.core.windows.net/<container>/<prefix>)."),
) -> None:
    """Build the bundle and store it (nothing is uploaded when the store has its digest already)."""
    bundle = _build(folder)
    try:
        store = BundleStore(to)
        uploaded = store.push(bundle)
    except BundleError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except Exception as error:  # storage SDKs raise their own types; the message is what matters here
        typer.echo(f"cannot push to {to}: {type(error).__name__}: {error}", err=True)
        raise typer.Exit(EXIT_API) from None
    typer.echo(f"{'pushed' if uploaded else 'already in'} {store}: {len(bundle.files)} files, {bundle.size} bytes",
               err=True)  # fmt: skip
    typer.echo(bundle.digest)
