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
    params = {"beta": 0.4, "gamma": 0.1}
    a, b, c = simulate(params, 1)["incidence"], simulate(params, 1)["incidence"], simulate(params, 2)["incidence"]
    assert a.equals(b) and not a.equals(c)
    assert a.columns == ["day", "incidence"] and a.height == 100


def test_the_committed_target_data_is_what_the_script_makes(tmp_path, monkeypatch):
    monkeypatch.setattr(make_targets, "HERE", tmp_path)
    (tmp_path / "truth.json").write_text((SIR / "truth.json").read_text())
    make_targets.main()
    assert pl.read_csv(tmp_path / "data" / "incidence.csv").equals(pl.read_csv(SIR / "data" / "incidence.csv"))


def test_make_run_recovers_the_true_parameters_within_ten_percent(tmp_path):
    result = mops("run", "examples/sir/run.yaml", "--local", "--json", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    truth = json.loads((SIR / "truth.json").read_text())["params"]
    for name, true_value in truth.items():
        assert summary["best_params"][name] == pytest.approx(true_value, rel=0.10), name
