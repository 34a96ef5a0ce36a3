"""A duration setting read from the environment, refused with a message naming the variable when it is not one."""

from __future__ import annotations

import os


def env_seconds(name: str, default: float, more_than: float | None = None, at_least: float | None = None) -> float:
    """`name` as seconds (`default` when unset or empty), checked against the bound given."""
    value = os.environ.get(name)
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {value!r}") from None
    if more_than is not None and seconds <= more_than:
        raise ValueError(f"{name} must be more than {more_than:g} s")
    if at_least is not None and seconds < at_least:
        raise ValueError(f"{name} must be at least {at_least:g} s, not {value!r}")
    return seconds
