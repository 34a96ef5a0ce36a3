"""The bundled example: its data is reproducible and `make run` recovers the truth."""

import json
from pathlib import Path

import polars as pl
import pytest

from examples.sir import make_targets
from examples.sir.model import simulate
from tests.test_cli import mops

SIR = Path(__file__).resolve().parents[1] / "examples" / "sir"


def test_the_model_is_a_pure_function_of_params_and_seed():
    params = {"R0": 2.0, "gamma": 0.2}
    a, b, c = simulate(params, 1), simulate(params, 1), simulate(params, 2)
    assert all(a[name].equals(b[name]) and not a[name].equals(c[name]) for name in ("incidence", "prevalence"))
    assert a["incidence"].columns == ["day", "incidence"] and a["prevalence"].columns == ["day", "prevalence"]
    assert a["incidence"].height == a["prevalence"].height == 100


def test_the_committed_target_data_is_what_the_script_makes(tmp_path, monkeypatch):
    monkeypatch.setattr(make_targets, "HERE", tmp_path)
    (tmp_path / "truth.json").write_text((SIR / "truth.json").read_text())
    make_targets.main()
    for name in ("incidence.csv", "prevalence.csv"):
        assert pl.read_csv(tmp_path / "data" / name).equals(pl.read_csv(SIR / "data" / name))


def test_make_run_recovers_the_true_parameters_within_ten_percent(tmp_path):
    result = mops("run", "examples/sir/run.yaml", "--local", "--json", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    truth = json.loads((SIR / "truth.json").read_text())["params"]
    for name, true_value in truth.items():
        assert summary["best_params"][name] == pytest.approx(true_value, rel=0.10), name
