"""Loading observed target data."""

from __future__ import annotations

from pathlib import Path

import polars as pl


def read_table(path: Path) -> pl.DataFrame:
    """Read a CSV or Parquet file by its suffix."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pl.read_csv(path)
    if suffix in (".parquet", ".pq"):
        return pl.read_parquet(path)
    raise ValueError(f"unsupported file type {suffix!r} (use .csv or .parquet)")


def check_target_frame(frame: pl.DataFrame, keys: list[str], value: str) -> str | None:
    """Why `frame` cannot serve as target data, or None when it can."""
    missing = [c for c in [*keys, value] if c not in frame.columns]
    if missing:
        return f"lacks column(s) {missing}; it has {frame.columns}"
    if not frame.schema[value].is_numeric():
        return f"value column {value!r} is {frame.schema[value]}, not numeric"
    if frame.height == 0:
        return "has no rows"
    if frame[value].null_count():
        return f"value column {value!r} has missing values"
    if frame.select(keys).is_duplicated().any():
        return f"has duplicate rows for the key columns {keys}"
    return None
