"""A fake of the HTTP API (docs/api.md) for `mops` on a real HTTP server on loopback.

The server checks the function key, validates run documents with the same model
as the API, and plays each run through canned phases across polls; it records
every request, so tests can assert what was (and was not) sent.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from typer.testing import CliRunner

from cli.app import app
from modelops.spec import SpecError, parse_spec, spec_digest
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


@contextlib.contextmanager
def serve_api(folder: Path) -> Iterator[FakeApi]:
    """The fake API on a free loopback port, serving results from `folder`/server-results."""
    results = folder / "server-results"
    results.mkdir()
    (results / "trials.parquet").write_bytes(b"PAR1 not really")
    (results / "summary.json").write_text(json.dumps({"best_params": {"x": 3.0}}))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.api = FakeApi(results)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield server.api
    finally:
        server.shutdown()
        server.server_close()
