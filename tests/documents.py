"""Valid run documents for tests, to mutate into invalid ones."""

from __future__ import annotations

import copy
from pathlib import Path

import polars as pl


def quadratic_doc(**changes) -> dict:
    """A run of `tests.models:quadratic` against zeros; best at x = 3, y = 0."""
    doc = {
        "apiVersion": "modelops/v1",
        "kind": "Calibration",
        "name": "quadratic",
        "model": {"entrypoint": "tests.models:quadratic"},
        "parameters": {"x": {"low": 0.0, "high": 10.0}, "y": {"low": 0.0, "high": 1.0}},
        "targets": {"curve": {"data": "curve.csv", "keys": ["t"], "value": "value", "loss": "mse"}},
        "budget": {"trials": 12},
        "replicates": 2,
        "seed": 1,
        "confirm": {"top": 0},  # tests of the confirmation phase turn it on
    }
    doc = copy.deepcopy(doc)
    doc.update(changes)
    return doc


def write_curve(folder: Path, name: str = "curve.csv", values=(0.0, 0.0, 0.0)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    pl.DataFrame({"t": [0, 1, 2], "value": list(values)}).write_csv(path)
    return path
