"""The `local` target with real processes: a Dask scheduler, workers and the runner on this machine."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from control_plane.activities.local_target import bp
from control_plane.local_target import LocalTarget, WorkspaceNotReady
from modelops.spec.paths import absolute_data_paths
from tests.durable.functions import FunctionIndex, run_activity

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "examples" / "toy"
# An upper bound on a workspace coming up (the product's default is 60 s): a busy machine starts Dask slowly.
UP_S = 240.0


def live_group_members(pgid: int) -> list[int]:
    """Processes of a group that still run (zombies, which an init that does not reap leaves behind, excluded)."""
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat_file.parent.name))
    return members


def running(pid: int) -> bool:
    """Whether `pid` is a process that still runs (a zombie has exited: only its entry is left)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def recorded(state_dir: Path, run_id: str) -> dict:
    return json.loads((state_dir / run_id / "processes.json").read_text())


def recorded_processes(state: dict) -> list[dict]:
    return [p for p in [state.get("runner"), *state.get("workers", []), state.get("scheduler")] if p]


def wait_for_exit(target: LocalTarget, run_id: str, timeout: float = 240) -> dict:
    """Until the runner exits; the bound is generous, as a busy machine starts Python, Dask and Optuna slowly."""
    deadline = time.monotonic() + timeout
    while (status := target.runner_status(run_id))["state"] == "running":
        assert time.monotonic() < deadline, "the runner did not exit in time"
        time.sleep(0.2)
    return status


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """The state folder; afterwards every run in it is stopped, and no process of theirs may be left."""
    folder = tmp_path / "state"
    try:
        yield folder
    finally:
        target = LocalTarget(folder, code_dir=ROOT)
        runs = [run for run in folder.iterdir() if (run / "processes.json").exists()] if folder.exists() else []
        groups = []
        for run in runs:
            groups += [p["pgid"] for p in recorded_processes(recorded(folder, run.name))]
            target.stop(run.name)
        assert not [pgid for pgid in groups if live_group_members(pgid)], "processes left behind"


@pytest.fixture
def target(state_dir: Path) -> LocalTarget:
    return LocalTarget(state_dir, code_dir=ROOT)


def test_relative_target_data_becomes_absolute_under_the_document_folder(tmp_path: Path) -> None:
    spec = {"targets": {"a": {"data": "data/a.csv"}, "b": {"data": "/abs/b.csv"}, "c": "not a mapping"}}
    rewritten = absolute_data_paths(spec, str(tmp_path))
    assert rewritten["targets"]["a"] == {"data": str(tmp_path / "data/a.csv")}
    assert rewritten["targets"]["b"] == {"data": "/abs/b.csv"} and rewritten["targets"]["c"] == "not a mapping"
    assert spec["targets"]["a"]["data"] == "data/a.csv"  # the input is left alone
    assert absolute_data_paths({"name": "no targets"}, str(tmp_path)) == {"name": "no targets"}


def test_workspace_and_runner_start_once_report_and_stop(target: LocalTarget, state_dir: Path, tmp_path: Path) -> None:
    from distributed import Client

    workspace = target.start_workspace("toy-1", workers=2, timeout_s=UP_S)
    assert workspace["scheduler_address"].startswith("tcp://127.0.0.1:")
    assert workspace["workers"] == 2
    with Client(workspace["scheduler_address"], timeout=60) as client:
        assert client.submit(sum, [40, 2]).result(timeout=60) == 42
        assert len(client.scheduler_info(n_workers=-1)["workers"]) == 2
    pids = [p["pid"] for p in recorded_processes(recorded(state_dir, "toy-1"))]

    assert target.start_workspace("toy-1", workers=2) == workspace
    assert [p["pid"] for p in recorded_processes(recorded(state_dir, "toy-1"))] == pids

    events = tmp_path / "events.jsonl"
    start = dict(
        spec=yaml.safe_load((TOY / "run.yaml").read_text()),
        spec_dir=str(TOY),
        results_url=str(tmp_path / "results"),
        events_url=str(events),
        scheduler_address=workspace["scheduler_address"],
    )
    runner = target.start_runner("toy-1", **start)
    assert runner["runner_id"] == "local-0"
    assert target.runner_status("toy-1") == {"state": "running", "exit_code": None, "summary": None}
    assert target.start_runner("toy-1", **start) == runner

    status = wait_for_exit(target, "toy-1")
    log = (state_dir / "toy-1" / "runner.log").read_text()
    assert status["state"] == "exited" and status["exit_code"] == 0, log[-3000:]
    assert status["summary"]["n_trials"] == 20 and status["summary"]["status"] == "completed"
    sent = [json.loads(line) for line in events.read_text().splitlines()]
    types = [event["type"] for event in sent]
    assert types[0] == "modelops.run.started" and types[-1] == "modelops.run.completed"
    searched = [e for e in sent if e["type"] == "modelops.trial.completed" and "phase" not in e["data"]["trial"]]
    assert len(searched) == 20  # beside them, the confirmation's re-scorings, marked
    assert (tmp_path / "results" / "summary.json").exists()
    assert target.start_runner("toy-1", **start) == runner  # finished: not run again

    state = recorded(state_dir, "toy-1")
    stopped = target.stop("toy-1")
    assert stopped == {"stopped": ["runner", "worker-0", "worker-1", "scheduler"]}
    for process in recorded_processes(state):
        assert not running(process["pid"])  # gone, or a zombie its parent has yet to reap
        assert live_group_members(process["pgid"]) == []
    assert target.stop("toy-1") == stopped
    assert target.runner_status("toy-1")["state"] == "exited"
    with pytest.raises(RuntimeError, match="was stopped"):
        target.start_workspace("toy-1", workers=2)

    assert target.purge("toy-1") == stopped
    assert not (state_dir / "toy-1").exists()


def test_workspace_not_ready_names_what_is_missing_and_a_retry_finishes(target: LocalTarget) -> None:
    with pytest.raises(WorkspaceNotReady, match="run slow: the Dask scheduler did not start"):
        target.start_workspace("slow", workers=1, timeout_s=0.01)

    target.start_workspace("slow", workers=1, timeout_s=UP_S)
    with pytest.raises(WorkspaceNotReady, match=r"1 of 3 Dask workers joined .* not ready: worker-1, worker-2"):
        target.start_workspace("slow", workers=3, timeout_s=0.3)
    assert target.start_workspace("slow", workers=3, timeout_s=UP_S)["workers"] == 3


def test_activities_through_the_blueprint(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELOPS_LOCAL_STATE_DIR", str(state_dir))
    activities = FunctionIndex.of(bp).activities
    assert set(activities) == {"local_start_workspace", "local_start_runner", "local_runner_status", "local_stop_run"}

    def call(name: str, payload: dict) -> dict:
        result = run_activity(activities[name], json.dumps(payload))
        assert not result.failed, result.details
        assert "hunter2" not in result.result_text
        return json.loads(result.result_text)

    assert call("local_runner_status", {"run_id": "bad-1"}) == {"state": "missing", "exit_code": None, "summary": None}
    workspace = call("local_start_workspace", {"run_id": "bad-1", "workers": 1})
    assert set(workspace) == {"scheduler_address", "dashboard_url", "workers"}
    invalid = {"apiVersion": "modelops/v1", "kind": "Calibration", "name": "Not A Name"}
    runner = call(
        "local_start_runner",
        {
            "run_id": "bad-1",
            "spec": invalid,
            "spec_dir": "examples/toy",
            "results_url": str(state_dir / "results"),
            "events_url": None,
            "scheduler_address": workspace["scheduler_address"],
            "storage_url": "postgresql://user:hunter2@127.0.0.1:1/db",
        },
    )
    assert runner["runner_id"] == "local-0" and isinstance(runner["pid"], int)
    deadline = time.monotonic() + 30
    while (status := call("local_runner_status", {"run_id": "bad-1"}))["state"] == "running":
        assert time.monotonic() < deadline, "the runner did not exit in time"
        time.sleep(0.2)
    assert status == {"state": "exited", "exit_code": 2, "summary": None}
    assert "hunter2" not in (state_dir / "bad-1" / "processes.json").read_text()

    stopped = {"stopped": ["runner", "worker-0", "scheduler"]}
    assert call("local_stop_run", {"run_id": "bad-1"}) == stopped
    assert call("local_stop_run", {"run_id": "bad-1", "purge": True}) == stopped
    assert not (state_dir / "bad-1").exists()
