"""`mops`: the ModelOps command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from modelops import __version__
from modelops.spec import SpecError, json_schema

from . import local_commands, run_commands
from .bundle_commands import bundle_app
from .config_commands import config_app
from .env_commands import env_app
from .exits import EXIT_CODES, EXIT_FAILED, EXIT_INVALID

# Plain help (no rich panels): rich's help shows a `<bool>` placeholder for flags, which take no value.
app = typer.Typer(help="ModelOps: calibrate stochastic simulation models at scale.", no_args_is_help=True, rich_markup_mode=None)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"modelops {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """ModelOps: calibrate stochastic simulation models at scale. Exit codes: see `mops exit-codes`."""


def _fail_invalid(error: SpecError | ValueError) -> None:
    typer.echo(str(error), err=True)
    raise typer.Exit(EXIT_INVALID)


@app.command()
def version() -> None:
    """Print the ModelOps version."""
    typer.echo(f"modelops {__version__}")


@app.command()
def schema() -> None:
    """Print the run document's JSON Schema."""
    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
def run(
    spec: Path = typer.Argument(..., help="Run document (YAML or JSON)."),
    local: bool = typer.Option(False, "--local", help="Run on this machine with a local Dask cluster (else: submit to the API)."),
    json_out: bool = typer.Option(False, "--json", help="End stdout with a one-line JSON summary (the final status, without --local)."),
    out: Path = typer.Option(Path("runs"), "--out", help="Folder that receives one results folder per run."),
    results: str = typer.Option(
        None, "--results", help="Results location: a folder or a blob URL (https://<account>.blob.core.windows.net/<container>/<prefix>)."
    ),
    run_id: str = typer.Option(
        None, "--run-id", help="Run id (default: <name>-<time>-<random>; without --local, the API's <name>-<document hash>)."
    ),
    storage: str = typer.Option(
        "memory", "--storage", help="Study storage: memory, sqlite:///file.db, or postgresql://... (shared by runners)."
    ),
    runner_id: str = typer.Option(None, "--runner-id", help="This runner's id within the run (default: host-pid-random)."),
    events: list[str] = typer.Option(
        [], "--events", help="Also send progress events to: a .jsonl file, an http(s) webhook, or an Event Grid topic endpoint."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    workers: int = typer.Option(None, "--workers", min=1, help="Dask workers (overrides compute.workers)."),
    trials: int = typer.Option(None, "--trials", min=1, help="Trial budget (overrides budget.trials)."),
    seed: int = typer.Option(None, "--seed", min=0, help="Algorithm seed (overrides seed)."),
    deterministic: bool = typer.Option(
        False, "--deterministic", help="Ask a batch, wait for all of it, tell in ask order: reproducible with a seed."
    ),
    force: bool = typer.Option(
        False, "--force", help="With --local: resume a run even though its document changed (beyond budget and compute)."
    ),
    target: str = typer.Option(None, "--target", help="Without --local: local, azure or existing (default from `mops config`)."),
    environment: str = typer.Option(None, "--environment", help="Without --local: the shared environment (default from `mops config`)."),
    poll: float = typer.Option(2.0, "--poll", min=0.1, help="Without --local: seconds between status polls."),
    follow: bool = typer.Option(True, "--follow/--no-follow", help="Without --local: follow the run to its end, or just print its id."),
    report: bool = typer.Option(True, "--report/--no-report", help="With --local: write the HTML report beside the results."),
    overwrite: bool = typer.Option(False, "--overwrite", help="With --local: replace a results folder that holds another run."),
    sim_cache: str = typer.Option(
        None, "--sim-cache", help="With --local: keep simulation outputs here (a folder or blob URL) and reuse them "
        "when a simulation of the same bundle, parameters and seed is asked again (default: $MODELOPS_SIM_CACHE, else off).",
    ),
) -> None:
    """Calibrate the model a run document describes: on this machine (--local) or through the API."""
    if not local:
        local_only = {"--out": out != Path("runs"), "--results": results, "--storage": storage != "memory",
                      "--runner-id": runner_id, "--events": events, "--deterministic": deterministic, "--force": force,
                      "--overwrite": overwrite, "--sim-cache": sim_cache}  # fmt: skip
        if given := [flag for flag, value in local_only.items() if value]:
            typer.echo(f"{', '.join(given)} only apply with --local", err=True)
            raise typer.Exit(EXIT_INVALID)
        from .remote_run import run_remote

        raise typer.Exit(
            run_remote(
                spec,
                target=target,
                environment=environment,
                run_id=run_id,
                overrides={"budget.trials": trials, "compute.workers": workers, "seed": seed},
                poll=poll,
                follow=follow,
                json_out=json_out,
                quiet=quiet,
            )
        )
    from runner.calibrate import RunFailed, exit_code
    from runner.ledger import LedgerError

    from .local_run import run_local

    try:
        summary = run_local(
            spec,
            results=results,
            out=out,
            run_id=run_id,
            storage=storage,
            runner_id=runner_id,
            events=([] if quiet else ["console"]) + list(events),
            overrides={"budget.trials": trials, "compute.workers": workers, "seed": seed},
            deterministic=deterministic,
            force=force,
            overwrite=overwrite,
            sim_cache=sim_cache,
        )
    except (SpecError, ValueError, LedgerError) as error:  # BundleError is a ValueError
        _fail_invalid(error)
    except RunFailed as error:
        typer.echo(f"calibration failed: {error}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    if summary["status"] == "interrupted":
        typer.echo(
            f"calibration interrupted ({summary['signal']}) after {summary['n_trials']} of {summary['budget']} trials; "
            f"results so far: {summary['results']}",
            err=True,
        )
    elif summary["status"] != "completed":
        typer.echo(f"calibration failed: {summary['error']}", err=True)
        typer.echo(f"partial results: {summary['results']}", err=True)
    else:
        local_commands.echo_best(summary, spec)
        typer.echo(f"results: {summary['results']}")
        if report:
            _report(summary["results"])
    if summary["events"]["dropped"]:
        typer.echo(f"warning: {summary['events']['dropped']} progress event(s) could not be delivered", err=True)
    if json_out:
        typer.echo(json.dumps(summary, default=str))
    if summary["status"] != "completed":
        raise typer.Exit(exit_code(summary))


def _report(results: str) -> None:
    """Write the report of a local results folder and say where it is; a failure only warns."""
    from runner.report import build_report

    if "://" in results:
        return
    try:
        typer.echo(f"report: {build_report(results)}")
    except Exception as exc:  # the run succeeded; a report that cannot be drawn must not say otherwise
        typer.echo(f"warning: no report ({type(exc).__name__}: {exc}); try `mops report {results}`", err=True)


@app.command()
def report(
    run: str = typer.Argument(..., help="A results folder, or the id of a run the API knows."),
    out: Path = typer.Option(None, "--out", help="Folder for report.html and the PNG figures (default: <results>/report)."),
) -> None:
    """Write a run's HTML report (figures embedded, opens offline) and its figures as PNG files."""
    from runner.report import build_report

    folder = Path(run)
    if not folder.is_dir():
        if "/" in run:  # a path, not a run id
            typer.echo(f"no results folder {run}", err=True)
            raise typer.Exit(EXIT_INVALID)
        folder = run_commands.fetch_results(run, Path("runs") / run)
    try:
        typer.echo(f"report: {build_report(folder, out)}")
    except FileNotFoundError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(EXIT_INVALID) from None


@app.command("exit-codes")
def exit_codes() -> None:
    """List every exit code `mops` commands use."""
    for code, meaning in EXIT_CODES.items():
        typer.echo(f"{code:>3}  {meaning}")


app.command("validate")(local_commands.validate)
app.command("runs")(local_commands.runs)
app.command("status")(run_commands.status)
app.command("list")(run_commands.list_runs)
app.command("cancel")(run_commands.cancel)
app.command("results")(run_commands.results)
app.add_typer(config_app, name="config")
app.add_typer(env_app, name="env")
app.add_typer(bundle_app, name="bundle")


def main() -> None:
    app()
