"""Shared pytest configuration.

`tests` is a package so that helpers import as `tests.<module>`; the
durable SDK wheel installs its own top-level `tests`, which must never win.
"""
