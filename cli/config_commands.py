"""`mops config init|show|set`: write and read the CLI's settings file without ever echoing the key."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import NoReturn

import typer

from .config import (
    ENV_OVERRIDES,
    SETTING_NAMES,
    ConfigError,
    Settings,
    check_setting,
    config_path,
    load_settings,
    mask_key,
    read_file_settings,
    save_settings,
)
from .exits import EXIT_INVALID

config_app = typer.Typer(help="Where the ModelOps API is and the key that opens it.", no_args_is_help=True, rich_markup_mode=None)


def _interactive() -> bool:
    return sys.stdin.isatty()


def _prompt(name: str, current: str | None) -> str | None:
    """Ask until the answer is valid; Enter keeps the current value. The key is typed hidden."""

    def check(value: str) -> str | None:
        if not value and name == "function_key":
            return current
        try:
            return check_setting(name, value)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from None

    if name == "function_key":
        text = "function_key (hidden" + (", Enter keeps the current one)" if current else ", Enter for none)")
        return typer.prompt(text, default="", hide_input=True, show_default=False, value_proc=check)
    return typer.prompt(name, default=current, value_proc=check)


def _exit_invalid(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(EXIT_INVALID)


def _file_settings() -> Settings:
    try:
        return read_file_settings()
    except ConfigError as exc:
        _exit_invalid(str(exc))


@config_app.command()
def init(
    api_url: str = typer.Option(None, "--api-url", help="The Function App's URL, e.g. https://<app>.azurewebsites.net."),
    function_key: str = typer.Option(None, "--function-key", help="A function key (prompted, hidden, when omitted on a terminal)."),
    environment: str = typer.Option(None, "--environment", help="Default shared environment (dev)."),
    target: str = typer.Option(None, "--target", help="Default target: local, azure or existing (local)."),
) -> None:
    """Write the settings file (0600); asks for what is not given when run on a terminal."""
    current = _file_settings()
    given = {"api_url": api_url, "function_key": function_key, "environment": environment, "target": target}
    values = {}
    try:
        for name in SETTING_NAMES:
            value = given[name]
            if value is not None:
                value = check_setting(name, value)
            elif _interactive():
                value = _prompt(name, getattr(current, name))
            else:
                value = getattr(current, name)
            values[name] = value
    except ConfigError as exc:
        _exit_invalid(str(exc))
    if not values["api_url"]:
        _exit_invalid("api_url is required: mops config init --api-url URL")
    typer.echo(f"wrote {save_settings(Settings(**values))}")


@config_app.command()
def show() -> None:
    """Print the effective settings and where each comes from; the key is masked."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        _exit_invalid(str(exc))
    path = config_path()
    typer.echo(f"config: {path}" + ("" if path.exists() else " (not written yet)"))
    for name, value in dataclasses.asdict(settings).items():
        shown = mask_key(value) if name == "function_key" else (value or "(not set)")
        source = f" (from {ENV_OVERRIDES[name]})" if os.environ.get(ENV_OVERRIDES.get(name, "")) else ""
        typer.echo(f"{name}: {shown}{source}")


@config_app.command("set")
def set_(
    name: str = typer.Argument(..., help=f"One of: {', '.join(SETTING_NAMES)}."),
    value: str = typer.Argument(..., help="Its new value."),
) -> None:
    """Change one setting in the settings file."""
    current = _file_settings()
    try:
        value = check_setting(name, value)
    except ConfigError as exc:
        _exit_invalid(str(exc))
    save_settings(dataclasses.replace(current, **{name: value}))
    typer.echo(f"{name} = {mask_key(value) if name == 'function_key' else value}")
    if os.environ.get(ENV_OVERRIDES.get(name, "")):
        typer.echo(f"note: {ENV_OVERRIDES[name]} is set and overrides it", err=True)
