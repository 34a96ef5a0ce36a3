"""`mops` against the HTTP API (docs/api.md): configuration, runs, environments and results.

The API is tests/remote_api.py's fake on a real HTTP server on loopback, which
records every request, so tests can assert what was (and was not) sent.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import polars as pl
import pytest
import yaml

from cli import config_commands
from cli.api_client import ApiClient, ApiError
from modelops.spec import parse_spec
from modelops.bundles import BundleStore, build_bundle
from tests.documents import quadratic_doc
from tests.remote_api import KEY, QUOTA, FakeApi, free_port, mops, serve_api, write_doc


@pytest.fixture
def api(tmp_path):
    with serve_api(tmp_path) as served:
        yield served


@pytest.fixture
def config_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "home" / "config.yaml"
    monkeypatch.setenv("MODELOPS_CONFIG", str(path))
    monkeypatch.delenv("MODELOPS_API_URL", raising=False)
    monkeypatch.delenv("MODELOPS_FUNCTION_KEY", raising=False)
    return path


@pytest.fixture
def configured(api, config_file, monkeypatch) -> FakeApi:
    assert mops("config", "init", "--api-url", api.url, "--function-key", KEY).exit_code == 0
    monkeypatch.setenv("MODELOPS_BUNDLE_STORE", str(api.bundle_store))  # no extra request: the API's store
    return api


# configuration


def test_config_init_show_set_keep_the_file_private_and_the_key_masked(config_file, monkeypatch):
    result = mops("config", "init", "--api-url", "https://app.example.net/", "--function-key", KEY)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert yaml.safe_load(config_file.read_text()) == {
        "api_url": "https://app.example.net", "function_key": KEY, "environment": "dev", "target": "local",
    }  # fmt: skip
    shown = mops("config", "show")
    assert "api_url: https://app.example.net" in shown.stdout and "function_key: ****cdef" in shown.stdout
    assert "environment: dev" in shown.stdout and "target: local" in shown.stdout

    assert mops("config", "set", "environment", "staging").exit_code == 0
    assert mops("config", "set", "function_key", "short-key").stdout.strip() == "function_key = ****"
    assert "short-key" not in mops("config", "show").stdout
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert yaml.safe_load(config_file.read_text())["environment"] == "staging"

    unknown = mops("config", "set", "colour", "blue")
    assert unknown.exit_code == 2 and "unknown setting 'colour'" in unknown.stderr
    bad_target = mops("config", "set", "target", "mars")
    assert bad_target.exit_code == 2 and "local, azure, existing" in bad_target.stderr
    bad_url = mops("config", "set", "api_url", "ftp://app")
    assert bad_url.exit_code == 2 and "http(s) URL" in bad_url.stderr

    monkeypatch.setenv("MODELOPS_API_URL", "http://127.0.0.1:7071")
    monkeypatch.setenv("MODELOPS_FUNCTION_KEY", KEY)
    overridden = mops("config", "show")
    assert "api_url: http://127.0.0.1:7071 (from MODELOPS_API_URL)" in overridden.stdout
    assert "function_key: ****cdef (from MODELOPS_FUNCTION_KEY)" in overridden.stdout


def test_config_init_prompts_on_a_terminal_with_the_key_hidden(config_file, monkeypatch):
    monkeypatch.setattr(config_commands, "_interactive", lambda: True)
    result = mops("config", "init", input=f"ftp://wrong\nhttps://app.example.net\n{KEY}\n\nazure\n")
    assert result.exit_code == 0, result.output
    assert "http(s) URL" in result.output  # a bad answer is asked again
    assert yaml.safe_load(config_file.read_text()) == {
        "api_url": "https://app.example.net", "function_key": KEY, "environment": "dev", "target": "azure",
    }  # fmt: skip


def test_config_init_off_a_terminal_needs_the_api_url(config_file):
    result = mops("config", "init", "--function-key", KEY)
    assert result.exit_code == 2 and "api_url is required" in result.stderr
    assert not config_file.exists()


# runs


def test_run_submits_follows_and_prints_the_best_parameters(configured, tmp_path):
    result = mops("run", str(write_doc(tmp_path)), "--poll", "0.1", "--json")
    assert result.exit_code == 0, result.output
    assert "best loss 0.0123 after 12 trials (1 failed)" in result.stdout
    assert "  x = 3.0" in result.stdout and "  y = 0.1" in result.stdout
    assert f"results: {configured.results_folder}" in result.stdout
    final = json.loads(result.stdout.strip().splitlines()[-1])
    assert final["phase"] == "completed" and final["best"]["params"] == {"x": 3.0, "y": 0.1}

    method, path, _, body = configured.requests[0]
    assert (method, path) == ("POST", "/api/runs")
    assert (body["target"], body["environment"], body["run_id"]) == ("local", "dev", None)
    digest = build_bundle(tmp_path / "model").digest
    assert parse_spec(body["spec"]) == parse_spec(quadratic_doc(model={"entrypoint": "tests.models:quadratic",
                                                                       "bundle": digest}))  # fmt: skip
    assert body["bundle_store"] == str(configured.bundle_store) and "base_dir" not in body
    assert BundleStore(str(configured.bundle_store)).has(digest)
    run_id = final["run_id"]
    assert configured.calls()[1:] == [("GET", f"/api/runs/{run_id}")] * 3


def test_run_options_reach_the_api(configured, tmp_path):
    args = ["--target", "azure", "--environment", "prod", "--run-id", "quad-7", "--trials", "20", "--no-follow"]
    result = mops("run", str(write_doc(tmp_path)), *args, "--json")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["quad-7", '{"run_id": "quad-7"}']
    [(method, path, _, body)] = configured.requests
    assert (body["target"], body["environment"], body["run_id"], body["spec"]["budget"]["trials"]) == ("azure", "prod", "quad-7", 20)


def test_a_failed_run_exits_1_with_the_reason(configured, tmp_path):
    result = mops("run", str(write_doc(tmp_path, name="fails")), "--poll", "0.1", "--quiet")
    assert result.exit_code == 1
    assert "calibration failed: monitor: runner exited with code 1" in result.stderr
    assert f"partial results: {configured.results_folder}" in result.stderr


def test_a_bad_document_exits_2_before_any_request(configured, tmp_path):
    configured.requests.clear()
    result = mops("run", str(write_doc(tmp_path, replicates=0, parameters={})))
    assert result.exit_code == 2
    assert "replicates: Input should be greater than or equal to 1" in result.stderr
    assert "parameters: Dictionary should have at least 1 item" in result.stderr
    for bad in (["--target", "mars"], ["--run-id", "Not_Valid"], ["--storage", "sqlite:///x.db"]):
        assert mops("run", str(write_doc(tmp_path)), *bad).exit_code == 2
    assert configured.requests == []


def test_fields_the_api_rejects_exit_2_and_are_listed(configured, tmp_path):
    result = mops("run", str(write_doc(tmp_path, budget={"trials": 5000})))
    assert result.exit_code == 2
    assert "API error 400: Invalid run document" in result.stderr
    assert f"budget.trials: exceeds this environment's quota of {QUOTA} trials" in result.stderr
    assert configured.calls() == [("POST", "/api/runs")]


def test_the_client_lists_the_servers_field_errors_and_never_shows_the_key(configured):
    client = ApiClient(configured.url, KEY, timeout=5)
    assert KEY not in repr(client) and configured.url in repr(client)
    with pytest.raises(ApiError) as raised:
        client.submit_run(quadratic_doc(replicates=0, seed=-1), "local", "dev")
    assert raised.value.status == 400
    assert "replicates: Input should be greater than or equal to 1" in str(raised.value)
    assert "seed: Input should be greater than or equal to 0" in str(raised.value)
    assert KEY not in str(raised.value) and KEY not in repr(raised.value)


def test_an_unreachable_api_exits_3_with_a_clear_message(config_file, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    mops("config", "init", "--api-url", url, "--function-key", KEY)
    for args in (["run", str(write_doc(tmp_path)), "--quiet"], ["status", "quadratic-1"]):
        result = mops(*args)
        assert result.exit_code == 3
        assert f"cannot reach the ModelOps API at {url}" in result.stderr and "Connection refused" in result.stderr


def test_no_configured_api_is_bad_input_that_says_what_to_do(config_file, tmp_path):
    result = mops("run", str(write_doc(tmp_path)))
    assert result.exit_code == 2 and "mops config init" in result.stderr and "--local" in result.stderr


def test_a_wrong_key_is_answered_401_and_exits_3(configured):
    assert mops("config", "set", "function_key", "wrong-key-of-some-length").exit_code == 0
    result = mops("status", "quadratic-1")
    assert result.exit_code == 3
    assert "API error 401: Unauthorized" in result.stderr and "function_key" in result.stderr
    assert "wrong-key-of-some-length" not in result.output


def test_status_reads_are_retried_through_a_503_but_a_submit_is_not(configured, tmp_path):
    run_id = mops("run", str(write_doc(tmp_path)), "--no-follow").stdout.strip()
    configured.unavailable = 2
    assert mops("status", run_id).exit_code == 0
    assert configured.calls()[-3:] == [("GET", f"/api/runs/{run_id}")] * 3
    configured.unavailable = 1
    refused = mops("run", str(write_doc(tmp_path)), "--no-follow")
    assert refused.exit_code == 3 and "API error 503" in refused.stderr
    assert configured.calls()[-1] == ("POST", "/api/runs")


def test_status_list_cancel_and_their_errors(configured, tmp_path):
    run_id = mops("run", str(write_doc(tmp_path)), "--no-follow").stdout.strip()
    assert run_id.startswith("quadratic-")

    shown = mops("status", run_id)
    assert shown.exit_code == 0
    assert f"run:         {run_id}" in shown.stdout and "phase:       accepted (step validate)" in shown.stdout
    assert json.loads(mops("status", run_id, "--json").stdout)["phase"] == "running"

    listed = mops("list")
    assert listed.exit_code == 0 and run_id in listed.stdout and "6/12" in listed.stdout
    assert configured.calls()[-1] == ("GET", "/api/runs")

    cancelled = mops("cancel", run_id, "--purge")
    assert cancelled.exit_code == 0 and f"cancelling {run_id}" in cancelled.stdout
    assert configured.requests[-1][:3] == ("DELETE", f"/api/runs/{run_id}", {"purge": "true"})
    again = mops("cancel", run_id)
    assert again.exit_code == 2 and "API error 409: Conflict" in again.stderr and "already finished" in again.stderr
    assert configured.requests[-1][:3] == ("DELETE", f"/api/runs/{run_id}", {})

    unknown = mops("status", "nope-1")
    assert unknown.exit_code == 2 and "API error 404" in unknown.stderr
    assert configured.calls()[-1] == ("GET", "/api/runs/nope-1")


def test_results_prints_the_location_and_downloads_the_files(configured, tmp_path):
    finished = mops("run", str(write_doc(tmp_path)), "--poll", "0.1", "--quiet", "--json")
    run_id = json.loads(finished.stdout.strip().splitlines()[-1])["run_id"]
    result = mops("results", run_id, "--download", str(tmp_path / "got"))
    assert result.exit_code == 0, result.output
    assert f"results: {configured.results_folder}" in result.stdout and "  x = 3.0" in result.stdout
    assert f"bundle: sha256:{'ab' * 32}\ndocument sha256: 5eed\ntarget curve: curve.csv sha256 c0ffee\nrunner: 0.1.0" \
        in result.stdout
    assert configured.calls()[-1] == ("GET", f"/api/runs/{run_id}")
    for name in ("trials.parquet", "summary.json"):
        assert (tmp_path / "got" / name).read_bytes() == (configured.results_folder / name).read_bytes()


def test_env_commands_send_the_documented_requests(configured):
    up = mops("env", "up", "staging", "--target", "azure")
    assert up.exit_code == 0 and "environment staging" in up.stdout
    assert configured.requests[-1] == ("PUT", "/api/environments/staging", {}, {"target": "azure"})

    shown = mops("env", "status", "staging")
    assert shown.exit_code == 0 and "phase: ready" in shown.stdout and "  cluster: aks-staging" in shown.stdout
    assert configured.calls()[-1] == ("GET", "/api/environments/staging")

    down = mops("env", "down", "staging", "--delete-rg")
    assert down.exit_code == 0
    assert configured.requests[-1][:3] == ("DELETE", "/api/environments/staging", {"delete_rg": "true"})

    assert mops("env", "status", "nowhere").exit_code == 2
    assert mops("env", "up", "Bad_Name").exit_code == 2 and configured.calls()[-1] == ("GET", "/api/environments/nowhere")
    assert mops("env", "doctor", "nowhere").exit_code == 2


def test_run_pushes_the_bundle_to_the_store_the_api_reports_once(configured, tmp_path, monkeypatch):
    monkeypatch.delenv("MODELOPS_BUNDLE_STORE")
    spec = write_doc(tmp_path)
    first = mops("run", str(spec), "--no-follow")
    again = mops("run", str(spec), "--no-follow")
    assert first.exit_code == again.exit_code == 0, first.output + again.output
    digest = build_bundle(tmp_path / "model").digest
    assert f"bundle {digest} (2 files" in first.stderr and f"pushed to {configured.bundle_store}" in first.stderr
    assert f"already in {configured.bundle_store}" in again.stderr
    assert configured.calls() == [("GET", "/api/bundle-store"), ("POST", "/api/runs")] * 2


def test_a_folder_that_cannot_be_bundled_exits_2_before_any_run_is_submitted(configured, tmp_path):
    spec = write_doc(tmp_path)
    (tmp_path / "model" / ".modelopsignore").write_text("*.csv\n")
    result = mops("run", str(spec), "--no-follow")
    assert result.exit_code == 2 and "curve.csv is not in the bundle" in result.stderr
    assert configured.calls() == []


def test_env_doctor_reports_the_cluster_and_fails_on_a_problem(configured):
    for env in ("staging", "old"):
        assert mops("env", "up", env, "--target", "azure").exit_code == 0
    healthy = mops("env", "doctor", "staging")
    assert healthy.exit_code == 0 and "kubernetes_version: 1.35.1" in healthy.stdout
    assert "environment staging: healthy" in healthy.stdout
    assert configured.calls()[-1] == ("GET", "/api/environments/staging/doctor")
    sick = mops("env", "doctor", "old", "--json")
    assert sick.exit_code == 1 and json.loads(sick.stdout)["problems"][0].startswith("Kubernetes 1.33.2 is past")


def test_report_of_a_run_id_downloads_its_results_then_draws_them(configured, tmp_path, monkeypatch):
    finished = mops("run", str(write_doc(tmp_path)), "--poll", "0.1", "--quiet", "--json")
    run_id = json.loads(finished.stdout.strip().splitlines()[-1])["run_id"]
    pl.DataFrame({"number": [0, 1, 2], "param_id": ["a", "b", "c"], "params_x": [1.0, 3.0, 5.0],
                  "params_y": [0.5, 0.1, 0.2], "status": ["completed", "completed", "failed"],
                  "loss": [4.5, 0.1, None], "error_type": [None, None, "ValueError"],
                  "error_message": [None, None, "x too big"]}).write_parquet(configured.results_folder / "trials.parquet")  # fmt: skip
    summary = {"run_id": run_id, "name": "quadratic", "status": "completed", "best_params": {"x": 3.0, "y": 0.1},
               "best_loss": 0.1, "n_trials": 3, "n_failed": 1, "budget": 3, "spec_sha256": "f" * 64}  # fmt: skip
    (configured.results_folder / "summary.json").write_text(json.dumps(summary))
    monkeypatch.chdir(tmp_path)
    result = mops("report", run_id)
    assert result.exit_code == 0, result.output
    page = tmp_path / "runs" / run_id / "report" / "report.html"
    assert f"report: {Path('runs') / run_id / 'report' / 'report.html'}" in result.stdout and page.is_file()
    html = page.read_text()
    assert "f" * 64 in html and "<td>ValueError</td><td>1</td>" in html and "No fit drawn" in html
    assert mops("report", str(tmp_path / "nowhere")).exit_code == 2
