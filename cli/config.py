"""The CLI's settings file: where the API is and the key that opens it.

`~/.modelops/config.yaml` (or `$MODELOPS_CONFIG`) holds a function key, so it
is written owner-only (0600) and the key is only ever shown masked.
`MODELOPS_API_URL` and `MODELOPS_FUNCTION_KEY` override the file, so CI can
run `mops` without writing a key to disk.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import urllib.parse
from pathlib import Path

import yaml

TARGETS = ("local", "azure", "existing")
ENV_OVERRIDES = {"api_url": "MODELOPS_API_URL", "function_key": "MODELOPS_FUNCTION_KEY"}
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class ConfigError(ValueError):
    """A setting is unknown or has an invalid value, or the file cannot be read."""


@dataclasses.dataclass(frozen=True)
class Settings:
    api_url: str | None = None
    function_key: str | None = None
    environment: str = "dev"
    target: str = "local"


SETTING_NAMES = tuple(field.name for field in dataclasses.fields(Settings))


def config_path() -> Path:
    return Path(os.environ.get("MODELOPS_CONFIG") or Path.home() / ".modelops" / "config.yaml")


def check_setting(name: str, value: str) -> str:
    """The value, stripped, if `name` is a setting and `value` suits it; else `ConfigError`."""
    if name not in SETTING_NAMES:
        raise ConfigError(f"unknown setting {name!r}: use one of {', '.join(SETTING_NAMES)}")
    value = value.strip()
    if name == "api_url":
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.username:
            raise ConfigError("api_url must be an http(s) URL without a query or user info, e.g. https://<app>.azurewebsites.net")
        return value.rstrip("/")
    if name == "function_key":
        if not value or any(ch.isspace() for ch in value):
            raise ConfigError("function_key must be non-empty and contain no whitespace")
        return value
    if name == "environment" and not _NAME.match(value):
        raise ConfigError(f"invalid environment {value!r}: lowercase letters, digits and '-', at most 63 characters")
    if name == "target" and value not in TARGETS:
        raise ConfigError(f"invalid target {value!r}: use one of {', '.join(TARGETS)}")
    return value


def read_file_settings(path: Path | None = None) -> Settings:
    """The file's settings alone (defaults where absent); no file means all defaults."""
    path = path or config_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return Settings()
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    unknown = sorted(set(data) - set(SETTING_NAMES))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    values = {name: check_setting(name, str(value)) for name, value in data.items() if value is not None}
    return Settings(**values)


def load_settings(path: Path | None = None) -> Settings:
    """The effective settings: the file, then the environment overrides."""
    settings = read_file_settings(path)
    overrides = {name: check_setting(name, os.environ[var]) for name, var in ENV_OVERRIDES.items() if os.environ.get(var)}
    return dataclasses.replace(settings, **overrides)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the file owner-only; the temp file is 0600 from creation, so the key is never world-readable."""
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = {name: value for name, value in dataclasses.asdict(settings).items() if value is not None}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(data, f, sort_keys=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def mask_key(key: str | None) -> str:
    """`****` plus the last 4 characters, and those only for keys of 16+ characters."""
    if not key:
        return "(not set)"
    return "****" + (key[-4:] if len(key) >= 16 else "")
