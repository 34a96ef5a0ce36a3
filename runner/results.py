"""The results of a run: `trials.parquet` and `summary.json`."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import polars as pl

from .trials import TrialRecord


def _param_column(name: str, values: list[Any]) -> pl.Series:
    kinds = {type(v) for v in values}
    if len(kinds) > 1 and not kinds <= {int, float}:
        values = [str(v) for v in values]  # a categorical mixing types is stored as text
    return pl.Series(f"params_{name}", values)


def _timestamp(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, timezone.utc)


def trials_frame(records: Sequence[TrialRecord], parameters: Sequence[str], targets: Sequence[str]) -> pl.DataFrame:
    """One row per evaluated parameter set, one column per parameter and per target loss."""
    columns: list[pl.Series] = [
        pl.Series("number", [r.number for r in records], dtype=pl.Int64),
        pl.Series("param_id", [r.param_id for r in records], dtype=pl.String),
    ]
    columns += [_param_column(name, [r.params[name] for r in records]) for name in parameters]
    columns += [
        pl.Series("phase", [r.phase for r in records], dtype=pl.String),
        pl.Series("confirms", [r.confirms for r in records], dtype=pl.String),
        pl.Series("status", [r.status for r in records], dtype=pl.String),
        pl.Series("loss", [r.loss for r in records], dtype=pl.Float64),
    ]
    columns += [
        pl.Series(f"loss_{t}", [r.target_losses.get(t) for r in records], dtype=pl.Float64) for t in targets
    ]
    error = [r.error or {} for r in records]
    columns += [
        pl.Series("replicate_seeds", [list(r.seeds) for r in records], dtype=pl.List(pl.UInt64)),
        pl.Series("submitted_at", [_timestamp(r.submitted_at) for r in records], dtype=pl.Datetime("us", "UTC")),
        pl.Series("finished_at", [_timestamp(r.finished_at) for r in records], dtype=pl.Datetime("us", "UTC")),
        pl.Series(
            "duration_s",
            [None if r.finished_at is None else r.finished_at - r.submitted_at for r in records],
            dtype=pl.Float64,
        ),
        pl.Series("sim_seconds", [r.sim_seconds for r in records], dtype=pl.Float64),
        pl.Series("error_type", [e.get("type") for e in error], dtype=pl.String),
        pl.Series("error_message", [e.get("message") for e in error], dtype=pl.String),
        pl.Series("error_traceback", [e.get("traceback") for e in error], dtype=pl.String),
        pl.Series("error_stdout", [e.get("stdout") for e in error], dtype=pl.String),
        pl.Series("error_stderr", [e.get("stderr") for e in error], dtype=pl.String),
    ]
    return pl.DataFrame(columns)


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def json_bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, default=str) + "\n").encode()
