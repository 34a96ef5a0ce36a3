"""A modeller's own folder, written anywhere: a model with a helper module, its data, a run document."""

from __future__ import annotations

import zipfile
from pathlib import Path

import yaml

MODEL = """\
import os

import polars as pl

from helpers import curve  # a module of the bundle, beside the model


def simulate(params, seed):
    if os.environ.get("GROWTH_CALLS"):
        with open(os.environ["GROWTH_CALLS"], "a") as log:
            log.write(f"{seed}\\n")
    return {"growth": curve(params["rate"])}
"""

HELPERS = """\
import polars as pl


def curve(rate):
    return pl.DataFrame({"day": [0, 1, 2, 3], "cases": [rate * d for d in range(4)]})
"""


def growth_doc(**changes) -> dict:
    doc = {
        "apiVersion": "modelops/v1",
        "kind": "Calibration",
        "name": "growth",
        "model": {"entrypoint": "growth:simulate"},
        "parameters": {"rate": {"low": 0.0, "high": 4.0}},
        "targets": {"growth": {"data": "data/cases.csv", "keys": ["day"], "value": "cases", "loss": "mse"}},
        "budget": {"trials": 6},
        "replicates": 2,
        "seed": 3,
        "compute": {"workers": 1},
    }
    doc.update(changes)
    return doc


def write_growth_folder(folder: Path, model_code: str = MODEL, **changes) -> Path:
    """The folder; returns its run document."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "growth.py").write_text(model_code)
    (folder / "helpers.py").write_text(HELPERS)
    (folder / "data" / "cases.csv").write_text("day,cases\n0,0\n1,2\n2,4\n3,6\n")
    (folder / "run.yaml").write_text(yaml.safe_dump(growth_doc(**changes)))
    return folder / "run.yaml"


def write_wheel(folder: Path, name: str = "tinydep", version: str = "0.1", value: int = 42) -> Path:
    """A minimal pure-Python wheel, so requirements install offline from a bundle's `wheels/` folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VALUE = {value}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    with zipfile.ZipFile(path, "w") as wheel:
        for member, text in files.items():
            wheel.writestr(member, text)
        wheel.writestr(f"{info}/RECORD", "".join(f"{m},,\n" for m in [*files, f"{info}/RECORD"]))
    return path


def pushed_growth_doc(folder: Path, store_url: str) -> tuple[dict, str]:
    """The growth folder bundled and pushed to `store_url`, as `mops run` does: the document naming it, its digest."""
    from modelops.bundles import BundleStore
    from modelops.bundles.document import bundled
    from modelops.spec import load_spec

    spec = write_growth_folder(folder)
    document, bundle = bundled(load_spec(spec), folder)
    BundleStore(store_url).push(bundle)
    return document.model_dump(mode="json", by_alias=True), bundle.digest
