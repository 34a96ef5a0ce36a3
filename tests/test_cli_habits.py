"""What a modeller runs into first: validate as run does, help, version, exit codes, local runs, overwrites."""

import json
import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

from cli.app import app
from cli.exits import EXIT_CODES
from cli.local_commands import echo_best
from modelops import __version__
from tests.documents import quadratic_doc, write_curve

ROOT = Path(__file__).resolve().parents[1]
cli = CliRunner()


def model_folder(tmp_path: Path, **changes) -> Path:
    """A model folder as a user has it: the model, its data and the document side by side."""
    folder = tmp_path / "model"
    write_curve(folder)
    (folder / "curvemodel.py").write_text(
        "import polars as pl\n\ndef simulate(params, seed):\n"
        "    return {'curve': pl.DataFrame({'t': [0, 1, 2], 'value': [params['x']] * 3})}\n"
    )
    doc = quadratic_doc(model={"entrypoint": "curvemodel:simulate"}, **changes)
    (folder / "run.yaml").write_text(yaml.safe_dump(doc))
    return folder / "run.yaml"


def test_validate_makes_the_checks_run_makes_unless_schema_only(tmp_path):
    good = model_folder(tmp_path)
    assert cli.invoke(app, ["validate", str(good)]).exit_code == 0
    broken = {
        "a missing data file": ({"targets": {"curve": {"data": "nope.csv", "keys": ["t"], "value": "value"}}},
                                "targets.curve.data: nope.csv"),
        "a missing column": ({"targets": {"curve": {"data": "curve.csv", "keys": ["t"], "value": "level"}}},
                             "targets.curve.data"),
        "an entrypoint that does not import": ({"model": {"entrypoint": "curvemodel:simulat"}}, "model.entrypoint"),
        "a custom loss that does not import": (
            {"targets": {"curve": {"data": "curve.csv", "keys": ["t"], "value": "value", "loss": "curvemodel:nloss"}}},
            "targets.curve.loss",
        ),
    }  # fmt: skip
    original = yaml.safe_load(good.read_text())
    for name, (change, field) in broken.items():
        good.write_text(yaml.safe_dump(original | change))
        full = cli.invoke(app, ["validate", str(good)])
        assert full.exit_code == 2 and field in full.stderr, (name, full.stderr)
        schema_only = cli.invoke(app, ["validate", "--schema-only", str(good)])
        assert schema_only.exit_code == 0 and "schema only" in schema_only.stdout, name


def test_version_flag_and_help_without_placeholder_types():
    assert cli.invoke(app, ["--version"]).stdout.strip() == f"modelops {__version__}"
    for command in (["run"], ["validate"], ["report"], ["runs"], ["env", "doctor"]):
        shown = cli.invoke(app, [*command, "--help"]).stdout
        assert "<bool>" not in shown and "--help" in shown, command
    assert re.search(r"--local\s+Run on this machine", cli.invoke(app, ["run", "--help"]).stdout)


def test_every_exit_code_is_in_the_readme_and_the_command():
    readme = (ROOT / "README.md").read_text().split("### Exit codes", 1)[1].split("\n\n## ", 1)[0]
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", readme, flags=re.M))
    assert {int(code): meaning for code, meaning in table.items()} == EXIT_CODES
    listed = cli.invoke(app, ["exit-codes"]).stdout
    assert all(f"{code:>3}  {meaning}" in listed for code, meaning in EXIT_CODES.items())


def write_run(folder: Path, run_id: str, started: str, status: str = "completed", best: float | None = 0.5) -> None:
    folder.mkdir(parents=True)
    summary = {"run_id": run_id, "status": status, "n_trials": 10, "budget": 10, "best_loss": best, "started_at": started}
    (folder / "summary.json").write_text(json.dumps(summary))


def test_runs_lists_local_results_newest_first(tmp_path):
    out = tmp_path / "runs"
    assert "no runs" in cli.invoke(app, ["runs", "--out", str(out)]).stdout
    write_run(out / "a", "sir-old", "2026-11-30T08:00:00+00:00")
    write_run(out / "b", "sir-new", "2026-12-01T09:00:00+00:00", status="failed", best=None)
    write_run(out / "c", "sir-mid", "2026-12-01T07:00:00+00:00", best=1234.56789)
    (out / "d").mkdir()
    (out / "d" / "trials.parquet").write_bytes(b"")  # a run still going
    (out / "not-a-run").mkdir()
    lines = cli.invoke(app, ["runs", "--out", str(out)]).stdout.splitlines()
    assert lines[0].split() == ["RUN", "STATUS", "TRIALS", "BEST", "LOSS", "STARTED"]
    rows = [line.split()[:4] for line in lines[1:]]
    assert ["d", "running?", "?", "-"] in rows and len(rows) == 4
    dated = [row for row in rows if row[0] != "d"]
    assert dated == [["sir-new", "failed", "10/10", "-"], ["sir-mid", "completed", "10/10", "1234.57"],
                     ["sir-old", "completed", "10/10", "0.5"]]  # fmt: skip


def test_an_existing_results_folder_is_refused_before_any_simulation(tmp_path):
    doc = model_folder(tmp_path)
    write_run(tmp_path / "runs" / "taken", "someone-else", "2026-12-01T09:00:00+00:00")
    result = cli.invoke(app, ["run", str(doc), "--local", "--out", str(tmp_path / "runs"), "--run-id", "taken"])
    assert result.exit_code == 2 and "already holds run someone-else" in result.stderr and "--overwrite" in result.stderr
    assert json.loads((tmp_path / "runs" / "taken" / "summary.json").read_text())["run_id"] == "someone-else"


def test_limits_on_trials_and_replicates_are_clear_errors(tmp_path):
    doc = model_folder(tmp_path, replicates=20_000)
    result = cli.invoke(app, ["validate", "--schema-only", str(doc)])
    assert result.exit_code == 2 and "replicates: Input should be less than or equal to 10000" in result.stderr
    result = cli.invoke(app, ["run", str(model_folder(tmp_path)), "--local", "--trials", "5000000"])
    assert result.exit_code == 2 and "budget.trials: Input should be less than or equal to 1000000" in result.stderr


def test_the_best_is_printed_at_four_digits_beside_the_truth(tmp_path, capsys):
    (tmp_path / "truth.json").write_text(json.dumps({"params": {"R0": 2.5, "gamma": 0.14}}))
    summary = {"best_loss": 812.3456789, "n_trials": 300, "n_failed": 0,
               "best_params": {"R0": 2.4871234567, "gamma": 0.139123456, "model": "sir"}}  # fmt: skip
    echo_best(summary, tmp_path / "run.yaml")
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["best loss 812.346 after 300 trials (0 failed)", "  R0    = 2.487  (truth 2.5)",
                     "  gamma = 0.1391  (truth 0.14)", "  model = sir"]  # fmt: skip
