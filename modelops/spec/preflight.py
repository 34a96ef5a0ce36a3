"""Checks that need the model's environment, run before any simulation.

The control plane validates documents without the model's code or data; the
runner (and `mops run --local`) calls `preflight` where both exist, so a run
that cannot work fails before it spends compute.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..entrypoints import EntrypointImportError, load_object, load_simulation
from ..targets import check_target_frame, load_target
from .errors import FieldError, SpecError
from .run import BUILTIN_LOSSES, RunSpec
from .sampler_options import ABC_SMC


def preflight(spec: RunSpec, base_dir: Path) -> dict[str, pl.DataFrame]:
    """Import every entrypoint and load every target; return the target frames.

    Raises `SpecError` listing every problem, each with the field it concerns.
    """
    errors: list[FieldError] = []

    def try_import(loc: tuple[str, ...], load, entrypoint: str) -> None:
        try:
            load(entrypoint)
        except EntrypointImportError as exc:
            errors.append(FieldError(loc, str(exc)))

    try_import(("model", "entrypoint"), load_simulation, spec.model.entrypoint)
    if spec.algorithm.name not in ("optuna", ABC_SMC):
        try_import(("algorithm", "name"), load_object, spec.algorithm.name)

    frames: dict[str, pl.DataFrame] = {}
    for name, target in spec.targets.items():
        loc = ("targets", name)
        if target.loss is not None and target.loss not in BUILTIN_LOSSES:
            try_import((*loc, "loss"), load_object, target.loss)
        try:
            frame = load_target(target.data, base_dir)
        except FileNotFoundError:
            errors.append(FieldError((*loc, "data"), f"file not found: {target.data}"))
            continue
        except Exception as exc:  # any reader failure is a bad data file
            errors.append(FieldError((*loc, "data"), f"cannot read {target.data}: {exc}"))
            continue
        problem = check_target_frame(frame, target.keys, target.value, target.size)
        if problem:
            errors.append(FieldError((*loc, "data"), f"{target.data} {problem}"))
            continue
        frames[name] = frame.select([*target.keys, target.value, *([target.size] if target.size else [])])
    if errors:
        raise SpecError(errors)
    return frames
