"""`mops` against the HTTP API (docs/api.md), served by a real HTTP server on loopback.

The server checks the function key, validates run documents with the same model
as the API, and plays each run through canned phases across polls; it records
every request, so tests can assert what was (and was not) sent.
"""

from __future__ import annotations

import json
import socket
import stat
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from cli import config_commands
from cli.api_client import ApiClient, ApiError
from cli.app import app
from modelops.spec import SpecError, parse_spec, spec_digest
from modelops.bundles import BundleStore, build_bundle
from tests.documents import quadratic_doc, write_curve

KEY = "test-function-key-0123456789abcdef"
SYSTEM_KEY = "durable-system-key-0123456789"  # in the 202's check-status URLs; must never be shown
QUOTA = 1000
cli = CliRunner()


def run_status(run_id: str, phase: str, **fields) -> dict:
    status = {
        "run_id": run_id, "phase": phase, "step": "monitor", "target": "local", "environment": "dev",
        "progress": {"done": 0, "failed": 0, "budget": 12}, "best": None, "results": None, "error": None,
        "last_event_at": None, "runtime_status": "Running",
        "created_at": "2026-11-29T16:00:00Z", "updated_at": "2026-11-29T16:00:00Z",
    }  # fmt: skip
    status.update(fields)
    return status


class FakeApi:
    """The documented routes with canned behaviour; `requests` records (method, path, query, body)."""

    def __init__(self, results_folder: Path):
        self.results_folder = results_folder
        self.bundle_store = results_folder.parent / "server-bundles"
        self.requests: list[tuple[str, str, dict, object]] = []
        self.runs: dict[str, list[dict]] = {}  # run id -> statuses still to serve; the last one stays
        self.current: dict[str, dict] = {}  # run id -> the status last served
        self.environments: dict[str, dict] = {}
        self.unavailable = 0  # answer this many next requests with 503

    def script(self, run_id: str, spec: dict) -> list[dict]:
        best = {"loss": 0.0123, "params": {"x": 3.0, "y": 0.1}}
        running = run_status(run_id, "running", progress={"done": 6, "failed": 1, "budget": 12}, best=best)
        if spec["name"].startswith("fails"):
            error = {"step": "monitor", "reason": "runner exited with code 1"}
            end = run_status(run_id, "failed", error=error, runtime_status="Failed", results=str(self.results_folder))
        else:
            progress = {"done": 12, "failed": 1, "budget": 12}
            provenance = {"bundle": "sha256:" + "ab" * 32, "spec_sha256": "5eed", "runner_version": "0.1.0",
                          "targets": {"curve": {"data": "curve.csv", "sha256": "c0ffee"}}}  # fmt: skip
            end = run_status(run_id, "completed", progress=progress, best=best, results=str(self.results_folder),
                             provenance=provenance)  # fmt: skip
            end["runtime_status"] = "Completed"
        return [run_status(run_id, "accepted", step="validate"), running, end]

    def handle(self, method: str, url: str, headers, body: object) -> tuple[int, dict, object]:
        parts = urllib.parse.urlsplit(url)
        path, query = parts.path, dict(urllib.parse.parse_qsl(parts.query))
        self.requests.append((method, path, query, body))
        if headers.get("x-functions-key") != KEY:
            return problem(401, "Unauthorized")
        if self.unavailable:
            self.unavailable -= 1
            return problem(503, "Service Unavailable")
        segments = path.removeprefix("/api/").split("/")
        if segments == ["bundle-store"] and method == "GET":
            return 200, {}, {"url": str(self.bundle_store)}
        if segments[0] == "runs":
            return self.runs_route(method, segments[1:], query, body)
        if segments[0] == "environments" and len(segments) == 2:
            return self.environments_route(method, segments[1], query, body)
        if segments[0] == "environments" and segments[2:] == ["doctor"] and method == "GET":
            return self.doctor(segments[1])
        return problem(404, "Not Found")

    def doctor(self, env: str) -> tuple[int, dict, object]:
        """As control_plane/api/doctor.py answers: a ready environment's diagnosis, else 404."""
        if env not in self.environments:
            return problem(404, "No ready environment", detail=f"environment {env!r} is not up")
        problems = ["Kubernetes 1.33.2 is past AKS community support in this region: upgrade it"] if env == "old" else []
        return 200, {}, {"environment": env, "target": "azure", "kubernetes_version": "1.33.2" if problems else "1.35.1",
                         "support": "unsupported" if problems else "supported", "upgrades": ["1.34.3"],
                         "pools": [{"name": "cpu", "labels": {"modelops.io/role": "cpu"}}],
                         "healthy": not problems, "problems": problems}  # fmt: skip

    def runs_route(self, method: str, rest: list[str], query: dict, body) -> tuple[int, dict, object]:
        if method == "POST" and not rest:
            return self.submit(body)
        if method == "GET" and not rest:
            return 200, {}, {"runs": list(reversed(self.current.values()))}
        if len(rest) != 1 or rest[0] not in self.runs:
            return problem(404, "Not Found", detail="unknown run")
        run_id, statuses = rest[0], self.runs[rest[0]]
        if method == "GET":
            self.current[run_id] = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            return 200, {}, self.current[run_id]
        if method == "DELETE":
            if self.current[run_id]["phase"] in ("completed", "failed", "cancelled"):
                return problem(409, "Conflict", detail=f"run {run_id} has already finished")
            self.current[run_id] = {**self.current[run_id], "phase": "cancelled"}
            self.runs[run_id] = [self.current[run_id]]
            return 202, {}, None
        return problem(405, "Method Not Allowed")

    def submit(self, body) -> tuple[int, dict, object]:
        if not isinstance(body, dict) or "spec" not in body:
            return problem(400, "Bad Request", errors=[{"field": "spec", "message": "Field required"}])
        try:
            spec = parse_spec(body["spec"])
        except SpecError as exc:
            return problem(400, "Invalid run document", errors=[e.to_dict() for e in exc.errors])
        if spec.budget.trials > QUOTA:
            message = f"exceeds this environment's quota of {QUOTA} trials"
            return problem(400, "Invalid run document", errors=[{"field": "budget.trials", "message": message}])
        run_id = body.get("run_id") or f"{spec.name}-{spec_digest(spec)[:8]}"
        if run_id not in self.runs:
            self.runs[run_id] = self.script(run_id, body["spec"])
            self.current[run_id] = self.runs[run_id][0]
        uri = f"http://127.0.0.1/runtime/webhooks/durabletask/instances/{run_id}?code={SYSTEM_KEY}"
        durable = {"id": run_id, "statusQueryGetUri": uri, "terminatePostUri": uri, "purgeHistoryDeleteUri": uri}
        return 202, {"Location": f"/api/runs/{run_id}"}, durable

    def environments_route(self, method: str, env: str, query: dict, body) -> tuple[int, dict, object]:
        if method == "PUT":
            self.environments[env] = {"name": env, "phase": "provisioning", "target": body["target"]}
            return 202, {}, None
        if env not in self.environments:
            return problem(404, "Not Found", detail=f"unknown environment {env}")
        if method == "GET":
            bindings = {"cluster": f"aks-{env}", "registry": f"acr{env}"}
            return 200, {}, {**self.environments[env], "phase": "ready", "bindings": bindings}
        if method == "DELETE":
            self.environments[env]["phase"] = "deleting"
            return 202, {}, None
        return problem(405, "Method Not Allowed")

    def calls(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _, _ in self.requests]


def problem(status: int, title: str, detail: str | None = None, errors: list | None = None) -> tuple[int, dict, object]:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail or title, "errors": errors or []}
    return status, {"Content-Type": "application/problem+json"}, body


class Handler(BaseHTTPRequestHandler):
    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        status, headers, payload = self.server.api.handle(self.command, self.path, self.headers, body)
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def api(tmp_path):
    results = tmp_path / "server-results"
    results.mkdir()
    (results / "trials.parquet").write_bytes(b"PAR1 not really")
    (results / "summary.json").write_text(json.dumps({"best_params": {"x": 3.0}}))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.api = FakeApi(results)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.api.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server.api
    server.shutdown()
    server.server_close()


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


def mops(*args: str, **kwargs):
    """Invoke the CLI; no output, ever, may hold the function key or the Durable system key."""
    result = cli.invoke(app, list(args), **kwargs)
    assert KEY not in result.output and SYSTEM_KEY not in result.output
    return result


def write_doc(folder: Path, **changes) -> Path:
    """The document and its data in `folder/model`: `mops run` bundles that folder and pushes it first."""
    folder = folder / "model"
    write_curve(folder)
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(quadratic_doc(**changes)))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
