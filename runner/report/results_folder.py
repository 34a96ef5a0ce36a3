"""What a finished run leaves in its results folder, read back; and the extra files the report needs.

Beside `trials.parquet` and `summary.json` the runner writes, `save_fit_inputs`
keeps the effective document (`run.json`) and the observed data it was scored
against (`observed_<target>.parquet`), so a report or `load_run(...).simulate`
works later from the folder alone; `save_fits` keeps the best fit and the
posterior draws as Parquet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from modelops.spec import RunSpec, parse_spec
from modelops.storage import ResultsLocation

from ..results import json_bytes, parquet_bytes

RUN_DOCUMENT = "run.json"
POSTERIOR = "posterior.parquet"


@dataclass
class RunFolder:
    folder: Path
    trials: pl.DataFrame
    summary: dict[str, Any]
    posterior: pl.DataFrame | None = None
    spec: RunSpec | None = None
    observed: dict[str, pl.DataFrame] = field(default_factory=dict)
    fits: dict[str, pl.DataFrame] = field(default_factory=dict)
    draws: dict[str, pl.DataFrame] = field(default_factory=dict)

    @property
    def parameters(self) -> list[str]:
        if self.spec is not None:
            return list(self.spec.parameters)
        return [c.removeprefix("params_") for c in self.trials.columns if c.startswith("params_")]


def read_folder(folder: str | Path) -> RunFolder:
    """A results folder; `FileNotFoundError` when it has no trials.parquet and summary.json."""
    folder = Path(folder)
    for name in ("trials.parquet", "summary.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} is not a results folder: it has no {name}")
    run = RunFolder(folder, pl.read_parquet(folder / "trials.parquet"), json.loads((folder / "summary.json").read_text()))
    if (folder / POSTERIOR).is_file():
        run.posterior = last_generation(pl.read_parquet(folder / POSTERIOR))
    if (folder / RUN_DOCUMENT).is_file():
        run.spec = parse_spec(json.loads((folder / RUN_DOCUMENT).read_text()))
    for prefix, into in (("observed_", run.observed), ("best_fit_", run.fits), ("posterior_fit_", run.draws)):
        for path in sorted(folder.glob(f"{prefix}*.parquet")):
            into[path.stem.removeprefix(prefix)] = pl.read_parquet(path)
    return run


def last_generation(particles: pl.DataFrame) -> pl.DataFrame:
    """abc-smc keeps every complete generation in posterior.parquet; the last one is the posterior."""
    if "generation" not in particles.columns or particles.is_empty():
        return particles
    return particles.filter(pl.col("generation") == particles["generation"].max())


def save_fit_inputs(location: ResultsLocation, spec: RunSpec, observed: Mapping[str, pl.DataFrame]) -> None:
    location.write_bytes(RUN_DOCUMENT, json_bytes(spec.model_dump(mode="json", by_alias=True)))
    for name, frame in observed.items():
        location.write_bytes(f"observed_{name}.parquet", parquet_bytes(frame))


def save_fits(location: ResultsLocation, prefix: str, fits: Mapping[str, pl.DataFrame]) -> None:
    for name, frame in fits.items():
        location.write_bytes(f"{prefix}{name}.parquet", parquet_bytes(frame))
