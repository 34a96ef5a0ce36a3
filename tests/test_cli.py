import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import polars as pl
import yaml
from typer.testing import CliRunner

from modelops import __version__
from cli.app import app
from tests.documents import quadratic_doc, write_curve

ROOT = Path(__file__).resolve().parents[1]
cli = CliRunner()


def write_doc(folder: Path, doc: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_version_and_schema():
    assert cli.invoke(app, ["version"]).stdout.strip() == f"modelops {__version__}"
    schema = json.loads(cli.invoke(app, ["schema"]).stdout)
    assert "parameters" in schema["properties"]


def test_validate_accepts_a_good_document_and_lists_field_errors_of_a_bad_one(tmp_path):
    good = cli.invoke(app, ["validate", str(ROOT / "examples/sir/run.yaml")])
    assert good.exit_code == 0 and "valid" in good.stdout
    bad = cli.invoke(app, ["validate", str(write_doc(tmp_path, quadratic_doc(replicates=0, parameters={})))])
    assert bad.exit_code == 2
    assert "replicates: Input should be greater than or equal to 1" in bad.stderr
    assert "parameters: Dictionary should have at least 1 item" in bad.stderr
    missing = cli.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "cannot read" in missing.stderr


def test_run_without_local_needs_an_api_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_CONFIG", str(tmp_path / "absent.yaml"))
    monkeypatch.delenv("MODELOPS_API_URL", raising=False)
    result = cli.invoke(app, ["run", str(ROOT / "examples/sir/run.yaml")])
    assert result.exit_code == 2 and "--local" in result.stderr


def test_a_bad_document_is_rejected_before_any_simulation_runs(tmp_path, monkeypatch):
    calls = tmp_path / "calls.log"
    monkeypatch.setenv("MODELOPS_TEST_CALLS", str(calls))
    doc = quadratic_doc(model={"entrypoint": "tests.models:records_calls"})  # its target file does not exist
    result = cli.invoke(app, ["run", str(write_doc(tmp_path, doc)), "--local", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2
    assert "targets.curve.data: curve.csv is not in the bundle (missing" in result.stderr
    assert not calls.exists() and not (tmp_path / "runs").exists()


def test_a_bad_run_id_is_rejected(tmp_path):
    write_curve(tmp_path)
    result = cli.invoke(app, ["run", str(write_doc(tmp_path, quadratic_doc())), "--local", "--run-id", "Not_Valid"])
    assert result.exit_code == 2 and "invalid run id 'Not_Valid'" in result.stderr


def mops(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """The real `mops` console script, as a user runs it; `tests.models` is installed, as a user's package would be."""
    exe = Path(sys.executable).with_name("mops")
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_run_local_with_overrides_writes_results_and_ends_with_json(tmp_path):
    result = mops(
        "run", "examples/toy/run.yaml", "--local", "--json",
        "--out", str(tmp_path), "--run-id", "toy-1", "--trials", "6", "--workers", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) >= {"best_params", "best_loss", "n_trials", "n_failed", "results"}
    assert (summary["n_trials"], summary["n_failed"], summary["best_params"]) == (6, 0, {"x": 0.0})
    assert summary["results"] == str(tmp_path / "toy-1")
    trials = pl.read_parquet(tmp_path / "toy-1" / "trials.parquet")
    assert trials.filter(pl.col("phase") == "search").height == 6  # and the confirmations of the best
    written = json.loads((tmp_path / "toy-1" / "summary.json").read_text())
    assert written["budget"] == 6 and written["run_id"] == "toy-1"


def test_a_run_whose_trials_all_fail_exits_non_zero_with_the_reason(tmp_path):
    write_curve(tmp_path)
    doc = quadratic_doc(model={"entrypoint": "tests.models:always_fails"})
    result = mops("run", str(write_doc(tmp_path, doc)), "--local", "--json", "--out", str(tmp_path / "runs"))
    assert result.returncode == 1
    assert "calibration failed: all" in result.stderr and "not_a_real_dependency" in result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["status"] == "failed"


def test_a_model_beside_the_user_resolves_from_the_working_directory(tmp_path):
    (tmp_path / "mymodel.py").write_text(
        "import polars as pl\n"
        "def simulate(params, seed):\n"
        "    return {'curve': pl.DataFrame({'t': [0, 1, 2], 'value': [params['x']] * 3})}\n"
    )
    write_curve(tmp_path)
    doc = quadratic_doc(model={"entrypoint": "mymodel:simulate"}, budget={"trials": 4})
    write_doc(tmp_path, doc)
    result = mops("run", "run.yaml", "--local", "--json", "--workers", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["n_trials"] == 4


def test_an_unsupported_storage_url_is_input_error(tmp_path):
    result = cli.invoke(app, ["run", str(ROOT / "examples/toy/run.yaml"), "--local", "--storage", "mysql://db/x"])
    assert result.exit_code == 2 and "unsupported study storage 'mysql'" in result.stderr


def test_several_runners_on_a_non_shared_store_are_refused(tmp_path):
    write_curve(tmp_path)
    doc = quadratic_doc(compute={"runners": 2}, central_store={})
    result = cli.invoke(app, ["run", str(write_doc(tmp_path, doc)), "--local", "--storage", "memory", "--quiet"])
    assert result.exit_code == 2 and "2 runners need a PostgreSQL study" in result.stderr


def test_undeliverable_events_are_reported_not_fatal(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    result = mops(
        "run", "examples/toy/run.yaml", "--local", "--json", "--quiet", "--workers", "1", "--out", str(tmp_path),
        "--events", f"http://127.0.0.1:{closed}/unreachable",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    sent = 2 + pl.read_parquet(Path(summary["results"]) / "trials.parquet").height  # started, each trial, completed
    assert f"{sent} progress event(s) could not be delivered" in result.stderr
    assert summary["events"]["dropped"] == sent and sent > 22  # the confirmation's re-scorings are events too


def test_events_to_a_jsonl_file_and_a_sqlite_study(tmp_path):
    events = tmp_path / "events.jsonl"
    args = ["run", "examples/toy/run.yaml", "--local", "--json", "--quiet", "--workers", "1"]
    first = mops(*args, "--out", str(tmp_path), "--run-id", "toy-sq", "--storage", f"sqlite:///{tmp_path}/s.db",
                 "--events", str(events))  # fmt: skip
    assert first.returncode == 0, first.stderr
    lines = events.read_text().splitlines()
    rows = pl.read_parquet(tmp_path / "toy-sq" / "trials.parquet").height  # the search's and the confirmation's
    assert len(lines) == 2 + rows and json.loads(lines[-1])["type"] == "modelops.run.completed"
    again = mops(*args, "--out", str(tmp_path), "--run-id", "toy-sq", "--storage", f"sqlite:///{tmp_path}/s.db")
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert (summary["n_trials"], summary["evaluated_here"]) == (20, 0)  # a finished run resumes as finished
