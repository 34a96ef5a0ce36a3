"""The checks `mops run` makes before any simulation, so `mops validate` can make the same ones.

The document's model is opened where it will run from (its bundle, or where
it is installed) and `preflight` imports every entrypoint and reads every
target file there.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from .bundles import STORE_ENV
from .bundles.document import OpenedModel, open_model
from .spec import RunSpec, preflight


def check_run(spec: RunSpec, base_dir: Path, *, build: bool = True) -> tuple[OpenedModel, dict[str, pl.DataFrame]]:
    """The opened model and the observed data; `SpecError` (or `BundleError`) naming every problem."""
    opened = open_model(spec, base_dir, os.environ.get(STORE_ENV), build=build)
    return opened, preflight(opened.spec, opened.base_dir)
