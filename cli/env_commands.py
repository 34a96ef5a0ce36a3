"""`mops env up|down|status|doctor`: the shared environment (cluster, registry, Dask workspace) runs use."""

from __future__ import annotations

import json
from typing import Any

import typer

from .api_session import api_errors, client_for, settings_or_exit
from .config import ConfigError, check_setting
from .exits import EXIT_FAILED, EXIT_INVALID

env_app = typer.Typer(help="Shared environments: the cluster, registry and Dask workspace runs use.", no_args_is_help=True, rich_markup_mode=None)


def _checked(name: str, value: str) -> str:
    try:
        return check_setting(name, value)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_INVALID) from None


def _echo_mapping(data: dict[str, Any], indent: str = "") -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            typer.echo(f"{indent}{key}:")
            _echo_mapping(value, indent + "  ")
        else:
            typer.echo(f"{indent}{key}: {value if isinstance(value, str) else json.dumps(value)}")


@env_app.command()
def up(
    env: str = typer.Argument(..., help="Environment name."),
    target: str = typer.Option(None, "--target", help="local, azure or existing (default: the configured target)."),
) -> None:
    """Ensure the environment exists (idempotent; the API does the work asynchronously)."""
    settings = settings_or_exit()
    env, target = _checked("environment", env), _checked("target", target or settings.target)
    client = client_for(settings)
    with api_errors():
        client.environment_up(env, target)
    typer.echo(f"environment {env}: provisioning requested (target {target}); `mops env status {env}` follows it")


@env_app.command()
def down(
    env: str = typer.Argument(..., help="Environment name."),
    delete_rg: bool = typer.Option(False, "--delete-rg", help="Also delete the environment's resource group."),
) -> None:
    """Tear the environment down."""
    env = _checked("environment", env)
    client = client_for(settings_or_exit())
    with api_errors():
        client.environment_down(env, delete_rg=delete_rg)
    typer.echo(f"environment {env}: teardown requested" + (", resource group included" if delete_rg else ""))


def _read(env: str, what: str) -> dict[str, Any]:
    """GET the environment's `what` ("status" or "doctor") through the API."""
    client = client_for(settings_or_exit())
    with api_errors():
        return getattr(client, f"environment_{what}")(env)


@env_app.command()
def status(
    env: str = typer.Argument(..., help="Environment name."),
    json_out: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Show the environment's phase and bindings (references only, never secrets)."""
    answer = _read(_checked("environment", env), "status")
    if json_out:
        typer.echo(json.dumps(answer, default=str))
    else:
        _echo_mapping(answer)


@env_app.command()
def doctor(
    env: str = typer.Argument(..., help="Environment name."),
    json_out: bool = typer.Option(False, "--json", help="Print the diagnosis as JSON."),
) -> None:
    """Check the environment's cluster: Kubernetes version and its support, upgrades, workload pool labels.

    Exits 1 when it finds a problem, so a script can gate on it.
    """
    env = _checked("environment", env)
    answer = _read(env, "doctor")
    if json_out:
        typer.echo(json.dumps(answer, default=str))
    else:
        _echo_mapping({k: v for k, v in answer.items() if k != "problems"})
        for problem in answer.get("problems") or []:
            typer.echo(f"problem: {problem}")
        typer.echo(f"environment {env}: " + ("healthy" if answer.get("healthy") else "NOT healthy"))
    if not answer.get("healthy"):
        raise typer.Exit(EXIT_FAILED)
