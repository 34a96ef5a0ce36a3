"""From settings to an API client, and from API failures to clear messages and exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from .api_client import ApiClient, ApiError, ApiUnreachable
from .config import ConfigError, Settings, load_settings
from .exits import EXIT_API, EXIT_INVALID

# The request named something wrong (a field, an unknown run, a finished run): the user's to fix.
INPUT_STATUSES = {400, 404, 409, 422}
TIMEOUT_S = 30.0


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_INVALID) from None


def client_for(settings: Settings, hint: str = "") -> ApiClient:
    """A client for the configured API; no URL configured is bad input, with what to do about it."""
    if not settings.api_url:
        typer.echo(f"no API URL configured: run `mops config init --api-url URL` or set MODELOPS_API_URL{hint}", err=True)
        raise typer.Exit(EXIT_INVALID)
    return ApiClient(settings.api_url, settings.function_key, timeout=TIMEOUT_S)


@contextmanager
def api_errors() -> Iterator[None]:
    """Print an API failure (never the key) and exit 2 for a refused request, 3 otherwise."""
    try:
        yield
    except ApiUnreachable as exc:
        typer.echo(f"{exc}\n  check api_url (`mops config show`) and that the Function App is running", err=True)
        raise typer.Exit(EXIT_API) from None
    except ApiError as exc:
        typer.echo(str(exc), err=True)
        if exc.status in (401, 403):
            typer.echo("  check function_key: `mops config set function_key KEY` or MODELOPS_FUNCTION_KEY", err=True)
        raise typer.Exit(EXIT_INVALID if exc.status in INPUT_STATUSES else EXIT_API) from None
