"""End to end on this machine: POST /api/runs (local target) → orchestration → local Dask and
runner processes → webhook events → /api/events → orchestration completes → GET shows the result.

The Functions host is played by the replay driver and a loopback HTTP server that hands each
webhook delivery to the app's `events` function, as the host's HTTP trigger would.
"""

import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest

from tests.bundle_models import pushed_growth_doc
from tests.function_app_harness import AppHarness

SECRETS = ("AccountKey=", "PGPASSWORD", "password", "client-key-data", "x-functions-key", "sig=")


class Webhook:
    """The host's HTTP front door for /api/events: queues each POSTed body for the test to deliver."""

    def __init__(self):
        self.deliveries: queue.Queue = queue.Queue()
        deliveries = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                deliveries.put(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_run_posted_to_the_api_calibrates_locally_and_completes(tmp_path, monkeypatch, webhook):
    monkeypatch.setenv("MODELOPS_RESULTS_ROOT", str(tmp_path / "runs"))
    monkeypatch.setenv("MODELOPS_LOCAL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MODELOPS_EVENTS_URL", webhook.url)
    monkeypatch.setenv("MODELOPS_BUNDLE_STORE", str(tmp_path / "bundles"))
    app = AppHarness()
    spec, digest = pushed_growth_doc(tmp_path / "my-model", str(tmp_path / "bundles"))  # a folder outside the repo
    spec["budget"]["trials"] = 40
    request = {"spec": spec, "target": "local", "run_id": "sir-e2e"}
    status, accepted, _ = app.http("start_run", "POST", "/api/runs", request)
    assert status == 202, accepted

    app.driver.drain(fire_timers=False)  # provisions: real scheduler, workers and runner processes
    state = json.loads((tmp_path / "state" / "sir-e2e" / "processes.json").read_text())
    deadline = time.monotonic() + 180
    delivered = 0
    while app.http("get_run", "GET", "/api/runs/sir-e2e", route={"run_id": "sir-e2e"})[1]["phase"] == "running":
        assert time.monotonic() < deadline, "the run did not finish in time"
        try:
            body = webhook.deliveries.get(timeout=0.5)
        except queue.Empty:
            continue
        code, answer, _ = app.http("events", "POST", "/api/events", body)
        assert code == 200, answer
        delivered += 1
        app.driver.drain(fire_timers=False)

    code, run, _ = app.http("get_run", "GET", "/api/runs/sir-e2e", route={"run_id": "sir-e2e"})
    assert code == 200 and run["phase"] == "completed", run
    assert run["progress"] == {"done": 40, "failed": 0, "budget": 40}
    assert set(run["best"]["params"]) == {"rate"} and run["best"]["loss"] >= 0
    results = Path(run["results"])
    trials = pl.read_parquet(results / "trials.parquet")
    assert trials.filter(pl.col("phase") == "search").height == 40  # each of the budget's trials once
    assert trials.filter(pl.col("phase") == "confirm").height == 10 * 4  # the top 10 re-scored 4 times
    summary = json.loads((results / "summary.json").read_text())
    assert summary["best_loss"] == run["best"]["loss"]
    assert run["provenance"] == summary["provenance"] | {"bundle_store": str(tmp_path / "bundles")}
    assert summary["provenance"]["bundle"] == digest and set(summary["provenance"]["targets"]) == {"growth"}
    assert delivered >= 1

    pids = [process["pid"] for process in _processes(state)]
    assert pids and not [pid for pid in pids if alive(pid)], "a process of the run is still running"
    assert app.driver.replay_all_recorded() > 0
    hub = app.driver.task_hub_text()
    assert not [secret for secret in SECRETS if secret in hub]


def _processes(state: dict) -> list[dict]:
    """Every process record in the local target's state file, wherever it nests them."""
    found = []
    stack = [state]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("pid"), int):
                found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
