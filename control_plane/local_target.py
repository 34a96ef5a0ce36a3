"""The `local` target: a Dask scheduler, Dask workers and the runner as processes on this (Linux) host.

Durable activities run at least once, so every call is idempotent: each run keeps
`<state_dir>/<run_id>/processes.json` (pids, process groups, addresses, commands) and a
start first looks there for live processes. Each process leads its own session, so
stopping its group stops what it spawned too (a worker's nanny and worker, the runner
and its exit-code wrapper). Liveness comes from `/proc`: a pid must still run, not be
a zombie, and have the recorded start time (pids are reused).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from modelops.spec.paths import absolute_data_paths

RUNNER_ID = "local-0"
STOP_GRACE_S = 5.0
WORKER_DEATH_TIMEOUT_S = 60  # a worker whose scheduler is gone exits by itself after this
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Wraps the runner so that its exit code outlives it, even when this process does not.
_EXIT_CODE_WRAPPER = 'f=$1; shift; "$@"; echo $? > "$f.tmp"; mv "$f.tmp" "$f"'
# Processes this process started, by pid: polled so that none stays a zombie (which looks alive).
_CHILDREN: dict[int, subprocess.Popen] = {}


class WorkspaceNotReady(RuntimeError):
    """The scheduler or some workers were not up before the deadline."""


class LocalTarget:
    """Start, inspect and stop one host's runs; `code_dir` is where models and entrypoints import from."""

    def __init__(self, state_dir: Path, code_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.code_dir = Path(code_dir).resolve()

    def start_workspace(self, run_id: str, workers: int, threads_per_worker: int = 1, timeout_s: float = 60.0) -> dict:
        """A scheduler on a free loopback port and `workers` workers, once; waits until all have joined."""
        deadline = time.monotonic() + timeout_s
        with self._locked(run_id) as (folder, state):
            _refuse_if_stopped(run_id, state)
            scheduler = state.get("scheduler")
            if scheduler is None or not _alive(scheduler):
                _stop_groups([p for p in [scheduler, *state.get("workers", [])] if p])
                (folder / "scheduler.json").unlink(missing_ok=True)
                state["workers"] = []
                scheduler = state["scheduler"] = self._spawn(folder, "scheduler", _scheduler_command(folder))
                _save(folder, state)
            if "address" not in scheduler:  # a previous attempt may have timed out before the scheduler was up
                _read_scheduler_file(run_id, folder, scheduler, deadline)
                _save(folder, state)
            slots: list[dict] = state["workers"]
            for i in range(workers):
                if i < len(slots) and _alive(slots[i]):
                    continue
                command = _worker_command(folder, scheduler["address"], i, threads_per_worker)
                worker = self._spawn(folder, f"worker-{i}", command)
                if i < len(slots):
                    slots[i] = worker
                else:
                    slots.append(worker)
                _save(folder, state)
            names = [f"worker-{i}" for i in range(workers)]
            _wait_for_workers(run_id, folder, scheduler["address"], names, deadline, timeout_s)
        address, dashboard_url = scheduler["address"], scheduler["dashboard_url"]
        return {"scheduler_address": address, "dashboard_url": dashboard_url, "workers": workers}

    def start_runner(
        self,
        run_id: str,
        spec: dict,
        *,
        spec_dir: str,
        results_url: str,
        events_url: str | None,
        scheduler_address: str,
        storage_url: str = "memory",
        bundle_store: str | None = None,
    ) -> dict:
        """`python -m runner` on the given scheduler, once: started again only if it vanished without an exit code.

        A bundled document's runner fetches its bundle from `bundle_store`."""
        with self._locked(run_id) as (folder, state):
            _refuse_if_stopped(run_id, state)
            runner = state.get("runner")
            exit_file = folder / "exit_code"
            if runner is None or not (_group_alive(runner) or exit_file.exists()):
                document = folder / "run.yaml"
                spec = absolute_data_paths(spec, str(self.code_dir / spec_dir))
                document.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
                env = os.environ | {
                    "MODELOPS_RUN_ID": run_id,
                    "MODELOPS_RUN_SPEC": str(document),
                    "MODELOPS_RESULTS_URL": results_url,
                    "DASK_SCHEDULER_ADDRESS": scheduler_address,
                    "MODELOPS_STORAGE_URL": storage_url,
                    "MODELOPS_EVENTS_URL": events_url or "",
                    "MODELOPS_RUNNER_ID": RUNNER_ID,
                    "MODELOPS_BUNDLE_STORE": bundle_store or "",
                }
                command = ["sh", "-c", _EXIT_CODE_WRAPPER, "runner", str(exit_file), sys.executable, "-m", "runner"]
                runner = state["runner"] = self._spawn(folder, "runner", command, env=env, stdout=folder / "runner.out")
                _save(folder, state)
        return {"runner_id": RUNNER_ID, "pid": runner["pid"]}

    def runner_status(self, run_id: str) -> dict:
        """Whether the runner runs; once it has exited, its exit code (None if killed) and last-line summary."""
        folder = self._folder(run_id)
        runner = _load(folder).get("runner")
        if runner is None:
            return {"state": "missing", "exit_code": None, "summary": None}
        if _group_alive(runner):  # the runner, or its wrapper still to write the exit code
            return {"state": "running", "exit_code": None, "summary": None}
        exit_file = folder / "exit_code"
        exit_code = int(exit_file.read_text()) if exit_file.exists() else None
        return {"state": "exited", "exit_code": exit_code, "summary": _last_json_line(folder / "runner.out")}

    def stop(self, run_id: str) -> dict:
        """Stop the runner, workers and scheduler, and record the run as stopped so no late start revives it."""
        with self._locked(run_id) as (folder, state):
            if "stopped" not in state:
                processes = [p for p in [state.get("runner"), *state.get("workers", []), state.get("scheduler")] if p]
                _stop_groups(processes)
                state["stopped"] = [p["name"] for p in processes]
                _save(folder, state)
        return {"stopped": state["stopped"]}

    def purge(self, run_id: str) -> dict:
        """Stop the run, then forget its state and logs; results live elsewhere and stay."""
        stopped = self.stop(run_id)
        shutil.rmtree(self._folder(run_id), ignore_errors=True)
        return stopped

    def _folder(self, run_id: str) -> Path:
        if not _RUN_ID.fullmatch(run_id):
            raise ValueError(f"run id {run_id!r}: use letters, digits, '.', '_' and '-' (128 at most)")
        return self.state_dir / run_id

    @contextlib.contextmanager
    def _locked(self, run_id: str) -> Iterator[tuple[Path, dict]]:
        """The run's folder and state, exclusively: duplicate deliveries of an activity may run at once."""
        import fcntl  # here, so the Function App still imports where there is no fcntl

        folder = self._folder(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield folder, _load(folder)

    def _spawn(
        self, folder: Path, name: str, command: list[str], env: dict | None = None, stdout: Path | None = None
    ) -> dict:
        """Start `command` in its own session, logging to `<name>.log` (stdout to `stdout` if given); its record."""
        out_file = open(stdout, "wb") if stdout else contextlib.nullcontext()
        with open(folder / f"{name}.log", "ab") as log, out_file as out:
            process = subprocess.Popen(
                command, cwd=self.code_dir, env=env, stdin=subprocess.DEVNULL, stdout=out or log, stderr=log,
                start_new_session=True,
            )  # fmt: skip
        _CHILDREN[process.pid] = process
        stat = _stat(process.pid)
        return {
            "name": name,
            "pid": process.pid,
            "pgid": process.pid,  # a session leader leads its process group
            "start_ticks": stat.start_ticks if stat else None,
            "started_at": datetime.now(timezone.utc).isoformat(),
            "command": command,
        }


def _scheduler_command(folder: Path) -> list[str]:
    """A scheduler on a free loopback port; it writes its address to `scheduler.json` once it listens."""
    return [
        sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
        "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(folder / "scheduler.json"),
    ]  # fmt: skip


def _read_scheduler_file(run_id: str, folder: Path, scheduler: dict, deadline: float) -> None:
    """Record the scheduler's address and dashboard once it has written them."""
    while (info := _read_json(folder / "scheduler.json")) is None:
        if time.monotonic() > deadline or not _alive(scheduler):
            raise WorkspaceNotReady(f"run {run_id}: the Dask scheduler did not start (log: {folder / 'scheduler.log'})")
        time.sleep(0.05)
    dashboard = info.get("services", {}).get("dashboard")
    scheduler["address"] = info["address"]
    scheduler["dashboard_url"] = f"http://127.0.0.1:{dashboard}/status" if dashboard else None


def _worker_command(folder: Path, address: str, index: int, threads: int) -> list[str]:
    return [
        sys.executable, "-m", "distributed.cli.dask_worker", address, "--name", f"worker-{index}",
        "--nthreads", str(threads), "--nworkers", "1", "--no-dashboard", "--host", "127.0.0.1",
        "--death-timeout", str(WORKER_DEATH_TIMEOUT_S), "--local-directory", str(folder / "dask"),
    ]  # fmt: skip


def _wait_for_workers(
    run_id: str, folder: Path, address: str, names: list[str], deadline: float, timeout_s: float
) -> None:
    """Until every named worker has joined; else an error naming the ones missing."""
    from distributed import Client

    try:
        with Client(address, timeout=max(deadline - time.monotonic(), 0.1)) as client:
            try:
                client.wait_for_workers(len(names), timeout=max(deadline - time.monotonic(), 0.1))
                return
            except TimeoutError:
                joined = {str(w["name"]) for w in client.scheduler_info(n_workers=-1)["workers"].values()}
    except OSError as error:
        raise WorkspaceNotReady(f"run {run_id}: the Dask scheduler at {address} is not reachable: {error}") from None
    missing = [name for name in names if name not in joined]
    raise WorkspaceNotReady(
        f"run {run_id}: {len(names) - len(missing)} of {len(names)} Dask workers joined {address} "
        f"within {timeout_s:g} s; not ready: {', '.join(missing)} (logs: {folder})"
    )


def _refuse_if_stopped(run_id: str, state: dict) -> None:
    if "stopped" in state:
        raise RuntimeError(f"run {run_id} was stopped; purge it before starting it again")


class _Stat(NamedTuple):
    state: str
    pgrp: int
    start_ticks: int


def _stat(pid: int) -> _Stat | None:
    """State, process group and start time (ticks since boot) of a pid, from /proc; None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)", which may hold spaces
    return _Stat(fields[0], int(fields[2]), int(fields[19]))


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]


def _alive(process: dict) -> bool:
    """Whether a recorded process still runs (a zombie or a reused pid does not count)."""
    _reap(process["pid"])
    stat = _stat(process["pid"])
    return stat is not None and stat.state != "Z" and process["start_ticks"] in (None, stat.start_ticks)


def _group_alive(process: dict) -> bool:
    """Whether any member of a recorded process's group still runs; orphaned zombies do not count."""
    _reap(process["pid"])
    leader = _stat(process["pid"])
    if leader is not None and process["start_ticks"] not in (None, leader.start_ticks):
        return False  # the pid was reused, which the kernel does only once our group is empty
    for entry in os.scandir("/proc"):
        stat = _stat(int(entry.name)) if entry.name.isdigit() else None
        if stat is not None and stat.pgrp == process["pgid"] and stat.state != "Z":
            return True
    return False


def _stop_groups(processes: list[dict], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every live group, SIGKILL what is left after `grace_s`; groups already gone are fine."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        live = [p for p in processes if _group_alive(p)]
        for process in live:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process["pgid"], sig)
        deadline = time.monotonic() + grace_s
        while live and time.monotonic() < deadline:
            time.sleep(0.05)
            live = [p for p in live if _group_alive(p)]
        if not live:
            return
    raise RuntimeError(f"could not stop {', '.join(p['name'] for p in live)}")


def _load(folder: Path) -> dict:
    return _read_json(folder / "processes.json") or {}


def _save(folder: Path, state: dict) -> None:
    """Write the state atomically, so a reader or a crash never sees half of it."""
    partial = folder / "processes.json.tmp"
    partial.write_text(json.dumps(state, indent=2))
    os.replace(partial, folder / "processes.json")


def _read_json(path: Path) -> Any:
    """The JSON in `path`, or None while it is missing or half written."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _last_json_line(path: Path) -> dict | None:
    """The runner's summary: the last line of its stdout, when that is a JSON object."""
    try:
        lines = path.read_text().strip().splitlines()
        value = json.loads(lines[-1]) if lines else None
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None
