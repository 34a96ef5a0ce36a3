"""`mops status`, `mops list`, `mops cancel`, `mops results`: look after runs the API started."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from .api_session import api_errors, client_for, settings_or_exit
from .exits import EXIT_API, EXIT_FAILED
from .results_download import download_results
from .status_view import echo_best, echo_provenance, echo_status, loss_text, runs_table


def status(
    run_id: str = typer.Argument(..., help="Run id."),
    json_out: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Show a run's phase, progress, best loss and results location."""
    client = client_for(settings_or_exit())
    with api_errors():
        answer = client.run_status(run_id)
    if json_out:
        typer.echo(json.dumps(answer, default=str))
    else:
        echo_status(answer)


def list_runs() -> None:
    """List the runs the API knows, newest first."""
    client = client_for(settings_or_exit())
    with api_errors():
        runs = client.list_runs()
    if not runs:
        typer.echo("no runs")
        return
    Console().print(runs_table(runs))


def cancel(
    run_id: str = typer.Argument(..., help="Run id."),
    purge: bool = typer.Option(False, "--purge", help="Also delete the run's results and study."),
) -> None:
    """Stop a run and remove what it created (its results and study are kept unless --purge)."""
    client = client_for(settings_or_exit())
    with api_errors():
        client.cancel_run(run_id, purge=purge)
    kept = "deleting its results and study" if purge else "keeping its results and study"
    typer.echo(f"cancelling {run_id}, {kept}")


def results(
    run_id: str = typer.Argument(..., help="Run id."),
    download: Path = typer.Option(None, "--download", help="Copy trials.parquet and summary.json into this folder."),
) -> None:
    """Print where a run's results are and its best parameters; optionally download them."""
    client = client_for(settings_or_exit())
    with api_errors():
        answer = client.run_status(run_id)
    location = answer.get("results")
    typer.echo(f"results: {location or '-'}")
    typer.echo(f"best loss {loss_text(answer)} ({answer.get('phase')})")
    echo_best(answer)
    echo_provenance(answer.get("provenance") or {})
    if download is not None:
        fetch_results(run_id, download, answer)


def fetch_results(run_id: str, folder: Path, answer: dict | None = None) -> Path:
    """Download a run's results into `folder` (its status from the API unless given); exit if that fails."""
    if answer is None:
        client = client_for(settings_or_exit())
        with api_errors():
            answer = client.run_status(run_id)
    location = answer.get("results")
    if not location:
        typer.echo(f"run {run_id} has no results location yet", err=True)
        raise typer.Exit(EXIT_FAILED)
    try:
        copied, missing = download_results(location, folder)
    except ImportError:
        typer.echo("downloading blob results needs the runner extra: pip install 'modelops[runner]'", err=True)
        raise typer.Exit(EXIT_API) from None
    except Exception as exc:  # storage SDKs raise their own types; the message is what matters here
        typer.echo(f"cannot download results from {location}: {exc}", err=True)
        raise typer.Exit(EXIT_API) from None
    for path in copied:
        typer.echo(f"downloaded {path}")
    for name in missing:
        typer.echo(f"warning: {name} is not at {location} (yet)", err=True)
    if not copied:
        raise typer.Exit(EXIT_FAILED)
    return folder
