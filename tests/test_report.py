"""The report and the Python API, on real (threaded) local runs of the test models."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from modelops import calibrate, load_run
from modelops.scoring import target_loss
from runner.report import build_report
from tests.documents import quadratic_doc, write_curve

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quadratic")
    write_curve(folder)
    doc = quadratic_doc(budget={"trials": 16}, replicates=3)
    doc["targets"]["curve"]["data"] = str(folder / "curve.csv")
    return calibrate(doc, workers=2, results=folder / "results", progress=False)


def test_calibrate_returns_a_run_reading_its_results(finished):
    assert finished.summary["status"] == "completed" and finished.trials.height == 16
    assert finished.best.loss == finished.trials["loss"].min() and finished.posterior is None
    assert set(finished.best.params) == {"x", "y"} and finished.spec.name == "quadratic"
    assert load_run(finished.folder).summary == finished.summary


def test_the_best_fit_is_saved_and_scores_the_best_loss(finished):
    build_report(finished.folder)
    fit = pl.read_parquet(finished.folder / "best_fit_curve.parquet")
    assert fit.columns == ["t", "replicate", "simulated", "observed"] and fit["replicate"].n_unique() == 3
    assert target_loss({"loss": "mse"}, fit, finished.best.params) == pytest.approx(finished.best.target_losses["curve"])
    again = finished.simulate()["curve"]  # the same seeds: the same outputs
    assert again.equals(fit)


def test_the_report_embeds_every_figure_and_writes_it_as_png(finished, tmp_path):
    page = build_report(finished.folder, tmp_path / "report")
    html = page.read_text()
    pngs = sorted(p.stem for p in (tmp_path / "report").glob("*.png"))
    assert pngs == ["fit_curve", "loss", "pairwise", "profiles", "traces"]
    embedded = re.findall(r'<img alt="[^"]+" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', html)
    assert len(embedded) == len(pngs) and all(len(data) > 1000 for data in embedded)
    assert finished.summary["spec_sha256"] in html and "No trial failed." in html
    assert "src=\"http" not in html and "<script" not in html  # opens offline


def test_a_posterior_adds_marginals_and_draws(finished, tmp_path):
    folder = tmp_path / "with-posterior"
    folder.mkdir()
    for name in ("trials.parquet", "summary.json", "run.json", "observed_curve.parquet"):
        (folder / name).write_bytes((finished.folder / name).read_bytes())
    rng = np.random.default_rng(0)
    generations = [pl.DataFrame({"generation": g, "params_x": rng.normal(3, spread, 200),
                                 "params_y": rng.uniform(0, 0.1, 200), "weight": rng.uniform(0, 1, 200)})
                   for g, spread in ((0, 2.0), (1, 0.2))]  # abc-smc keeps every generation; the last is the posterior
    pl.concat(generations).write_parquet(folder / "posterior.parquet")  # fmt: skip
    page = build_report(folder).read_text()
    assert "Posterior marginals" in page and (folder / "report/posterior.png").is_file()
    draws = pl.read_parquet(folder / "posterior_fit_curve.parquet")
    assert draws["draw"].n_unique() > 1 and load_run(folder).posterior.height == 200
    assert re.search(r"<td>x</td><td>(2\.9|3\.0)\d*</td><td>2\.[5-7]\d*</td><td>3\.[2-4]\d*</td>", page)


def test_failures_are_grouped_by_error_type(tmp_path):
    write_curve(tmp_path)
    doc = quadratic_doc(model={"entrypoint": "tests.models:fails_above_five"}, budget={"trials": 14})
    doc["targets"]["curve"]["data"] = str(tmp_path / "curve.csv")
    run = calibrate(doc, workers=1, results=tmp_path / "results", progress=False, seed=3)
    failed = run.trials.filter(pl.col("status") == "failed").height
    assert failed > 0
    page = run.report().read_text()
    assert f"<td>ValueError</td><td>{failed}</td>" in page and "out of the model&#x27;s range" in page


def test_an_existing_results_folder_is_not_overwritten(finished):
    before = (finished.folder / "summary.json").read_text()
    with pytest.raises(ValueError, match="already holds run .* --overwrite"):
        calibrate(finished.spec, results=finished.folder, progress=False)
    assert (finished.folder / "summary.json").read_text() == before


def test_the_readme_notebook_example_runs_as_a_plain_script(tmp_path):
    readme = (ROOT / "README.md").read_text()
    example = readme.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert "__main__" not in example
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "example.py").write_text(example)  # a plain script, run where a user would keep it
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "completed" and Path(summary["report"]).is_file()
