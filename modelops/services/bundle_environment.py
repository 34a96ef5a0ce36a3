"""The executor's environment for a bundle: its folder (and installed requirements) first on the path, and as cwd.

Each bundle gets its own pool of warm children, so two bundles that both have
a `model.py` never share a process, and a model that opens files relative to
its working directory finds its bundle's.
"""

from __future__ import annotations

from modelops.bundles import INSTALLED, prepare

from .pool import Environment


def environment_for(bundle_ref: str | None) -> Environment:
    """Where a task of `bundle_ref` runs; this process's own environment for `installed`."""
    current = Environment.current()
    if not bundle_ref or bundle_ref == INSTALLED:
        return current
    bundle = prepare(bundle_ref)  # fetched and verified once per process
    first = bundle.paths
    return Environment(current.python, (*first, *(p for p in current.path if p not in first)), str(bundle.files),
                       current.env)  # fmt: skip
