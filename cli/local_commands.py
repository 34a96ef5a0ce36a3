"""`mops validate`, `mops runs` and what `mops run --local` prints at the end: the commands about this machine."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from modelops.run_checks import check_run
from modelops.spec import SpecError, load_spec

from .exits import EXIT_INVALID

TRUTH = "truth.json"  # beside an example's run document: {"params": {...}} that generated its data


def validate(
    spec: Path = typer.Argument(..., help="Run document (YAML or JSON)."),
    schema_only: bool = typer.Option(False, "--schema-only", help="Check the document alone: not its model, data files or losses."),
) -> None:
    """Check a run document as `mops run` does before any simulation; print each error with its field path.

    Beyond the schema: the model's bundle opens, every entrypoint (model, losses,
    algorithm) imports, every data file reads and has the key and value columns.
    """
    try:
        document = load_spec(spec)
        if not schema_only:
            check_run(document, spec.resolve().parent)
    except (SpecError, ValueError) as error:  # BundleError is a ValueError
        typer.echo(str(error), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(f"{spec}: valid" + (" (schema only)" if schema_only else ""))


def runs(out: Path = typer.Option(Path("runs"), "--out", help="The folder `mops run --local --out` wrote into.")) -> None:
    """List the local runs' results, newest first: status, trials, best loss."""
    found = [row for folder in sorted(out.iterdir()) if folder.is_dir() and (row := _run_row(folder))] if out.is_dir() else []
    if not found:
        typer.echo(f"no runs in {out}")
        return
    found.sort(key=lambda row: row["when"], reverse=True)
    header = ("RUN", "STATUS", "TRIALS", "BEST LOSS", "STARTED")
    rows = [(r["run"], r["status"], r["trials"], r["best"], r["when"].strftime("%Y-%m-%d %H:%M")) for r in found]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def _run_row(folder: Path) -> dict[str, Any] | None:
    summary_path, trials_path = folder / "summary.json", folder / "trials.parquet"
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text())
        except ValueError:
            summary = {}
        started = summary.get("started_at")
        return {
            "run": summary.get("run_id") or folder.name,
            "status": summary.get("status", "?"),
            "trials": f"{summary.get('n_trials', '?')}/{summary.get('budget', '?')}",
            "best": "-" if summary.get("best_loss") is None else f"{summary['best_loss']:.6g}",
            "when": datetime.fromisoformat(started) if started else _mtime(summary_path),
        }
    if trials_path.is_file():  # still going, or stopped before its summary
        return {"run": folder.name, "status": "running?", "trials": "?", "best": "-", "when": _mtime(trials_path)}
    return None


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime).astimezone()


def echo_best(summary: dict[str, Any], spec_path: Path) -> None:
    """The best loss and parameters at 4 significant digits, beside the truth when the example has one."""
    typer.echo(f"best loss {summary['best_loss']:.6g} after {summary['n_trials']} trials ({summary['n_failed']} failed)")
    truth = _truth(spec_path)
    width = max(map(len, summary["best_params"]), default=0)
    for name, value in summary["best_params"].items():
        line = f"  {name.ljust(width)} = {_short(value)}"
        if name in truth:
            line += f"  (truth {_short(truth[name])})"
        typer.echo(line)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _truth(spec_path: Path) -> dict[str, Any]:
    path = spec_path.resolve().parent / TRUTH
    try:
        params = json.loads(path.read_text()).get("params")
    except (OSError, ValueError, AttributeError):
        return {}
    return params if isinstance(params, dict) else {}
