"""How a run's status (GET /api/runs/{id}) reads on a terminal; shared by run, status, list and results."""

from __future__ import annotations

from typing import Any

import typer
from rich import box
from rich.table import Table

FINAL_PHASES = ("completed", "failed", "cancelled")


def loss_text(status: dict[str, Any]) -> str:
    loss = (status.get("best") or {}).get("loss")
    return "-" if loss is None else f"{loss:.6g}"


def progress_text(status: dict[str, Any]) -> str:
    progress = status.get("progress") or {}
    budget = progress.get("budget")
    return f"{progress.get('done', 0)}/{'?' if budget is None else budget}"


def error_text(status: dict[str, Any]) -> str:
    error = status.get("error") or {}
    return f"{error.get('step') or '?'}: {error.get('reason') or 'no reason given'}"


def echo_best(status: dict[str, Any]) -> None:
    """Best parameters, one a line, as `mops run --local` prints them."""
    for name, value in ((status.get("best") or {}).get("params") or {}).items():
        typer.echo(f"  {name} = {value}")


def echo_outcome(status: dict[str, Any]) -> None:
    """The end of a followed run, worded like a local run's."""
    progress = status.get("progress") or {}
    if status.get("phase") == "completed":
        typer.echo(f"best loss {loss_text(status)} after {progress.get('done', 0)} trials ({progress.get('failed', 0)} failed)")
        echo_best(status)
        typer.echo(f"results: {status.get('results') or '-'}")
        return
    if status.get("phase") == "cancelled":
        typer.echo(f"run {status.get('run_id')} was cancelled", err=True)
    else:
        typer.echo(f"calibration failed: {error_text(status)}", err=True)
    if status.get("results"):
        typer.echo(f"partial results: {status['results']}", err=True)


def echo_status(status: dict[str, Any]) -> None:
    progress = status.get("progress") or {}
    step = f" (step {status['step']})" if status.get("step") else ""
    typer.echo(f"run:         {status.get('run_id')}")
    typer.echo(f"phase:       {status.get('phase')}{step}")
    typer.echo(f"target:      {status.get('target')}, environment {status.get('environment')}")
    typer.echo(f"progress:    {progress_text(status)} done, {progress.get('failed', 0)} failed")
    typer.echo(f"best loss:   {loss_text(status)}")
    echo_best(status)
    typer.echo(f"results:     {status.get('results') or '-'}")
    if status.get("error"):
        typer.echo(f"error:       {error_text(status)}")
    typer.echo(f"updated:     {status.get('updated_at') or '-'} (last event {status.get('last_event_at') or '-'})")


def runs_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("run", no_wrap=True)  # never cut or folded: it is what the user types next
    table.add_column("phase", no_wrap=True)
    table.add_column("target/env")
    table.add_column("done", justify="right", no_wrap=True)
    table.add_column("failed", justify="right")
    table.add_column("best loss", justify="right")
    for run in runs:
        table.add_row(
            str(run.get("run_id")),
            str(run.get("phase")),
            f"{run.get('target') or '-'}/{run.get('environment') or '-'}",
            progress_text(run),
            str((run.get("progress") or {}).get("failed", 0)),
            loss_text(run),
        )
    return table


def echo_provenance(provenance: dict[str, Any]) -> None:
    """What the results trace to: bundle, document hash, target files' hashes, runner version."""
    if not provenance:
        return
    typer.echo(f"bundle: {provenance.get('bundle') or '-'}")
    typer.echo(f"document sha256: {provenance.get('spec_sha256') or '-'}")
    for name, target in (provenance.get("targets") or {}).items():
        typer.echo(f"target {name}: {target.get('data')} sha256 {target.get('sha256')}")
    if provenance.get("runner_version"):
        typer.echo(f"runner: {provenance['runner_version']}")
