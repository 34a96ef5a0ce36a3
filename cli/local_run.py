"""`mops run --local`: the embedded default, no cloud at all."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelops.spec import load_spec, with_overrides


def run_local(spec_path: Path, *, overrides: Mapping[str, Any], **options: Any) -> dict[str, Any]:
    """Validate the document with its overrides, then bundle and calibrate it here; return the run summary."""
    from runner.local_run import run_local as run_here

    spec = with_overrides(load_spec(spec_path), **overrides)
    return run_here(spec, spec_path.resolve().parent, **options)
