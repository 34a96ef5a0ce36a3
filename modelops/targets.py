"""Loading observed target data, from files beside the run document or from blob storage."""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath

import polars as pl


def load_target(data: str, base_dir: Path) -> pl.DataFrame:
    """A target's data: a path (relative to the run document) or a blob URL.

    Raises `FileNotFoundError` when there is nothing there, `ValueError` for a file
    type other than CSV or Parquet; reader errors pass through.
    """
    suffix = PurePosixPath(data.split("?")[0]).suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"unsupported file type {suffix!r} (use .csv or .parquet)")
    source = io.BytesIO(target_bytes(data, base_dir))
    return pl.read_csv(source) if suffix == ".csv" else pl.read_parquet(source)


def target_bytes(data: str, base_dir: Path) -> bytes:
    """The raw content of a target's data file or blob; `FileNotFoundError` when there is none."""
    if "://" in data and not data.startswith("file://"):
        from modelops.storage import open_results

        location, _, name = data.rpartition("/")
        return open_results(location).read_bytes(name)
    path = Path(data.removeprefix("file://"))
    source = path if path.is_absolute() else base_dir / path
    if not source.is_file():
        raise FileNotFoundError(data)
    return source.read_bytes()


def check_target_frame(frame: pl.DataFrame, keys: list[str], value: str, size: str | None = None) -> str | None:
    """Why `frame` cannot serve as target data, or None when it can (`size`: a binomial's trials column)."""
    missing = [c for c in [*keys, value, *([size] if size else [])] if c not in frame.columns]
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
    if size is not None:
        if not frame.schema[size].is_numeric() or frame[size].null_count():
            return f"size column {size!r} must be numeric with no missing values"
        if (frame[value] > frame[size]).any() or (frame[value] < 0).any():
            return f"value column {value!r} must lie between 0 and the size column {size!r}"
    return None
