"""Runners as real processes, as a cluster runs them, for sharing and crash tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.documents import quadratic_doc, write_curve

ROOT = Path(__file__).resolve().parents[1]


def write_run(folder: Path, trials: int, **changes) -> Path:
    """A run document of `tests.models:logged_quadratic` with its target data, in `folder`/doc.

    The document's folder is its model bundle, so it holds nothing else: the
    study, logs and results the tests keep in `folder` must not change the
    bundle between a run and its resume.
    """
    folder = folder / "doc"
    write_curve(folder)
    doc = quadratic_doc(model={"entrypoint": "tests.models:logged_quadratic"}, budget={"trials": trials}, **changes)
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def start_runner(spec: Path, run_id: str, storage: str, results: Path, calls: Path, *extra: str) -> subprocess.Popen:
    """`mops run` in its own process group (so a kill takes its Dask workers too, like a pod's).

    Without the report: it re-simulates the best fit with its trial's seeds, which the
    tests' call logs would count as evaluating a parameter set twice.
    """
    env = os.environ | {"MODELOPS_TEST_CALLS": str(calls), "PYTHONPATH": str(ROOT)}
    command = [
        str(Path(sys.executable).with_name("mops")), "run", str(spec), "--local", "--json", "--quiet",
        "--workers", "1", "--run-id", run_id, "--storage", storage, "--results", str(results), "--no-report", *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def finish(process: subprocess.Popen, timeout: float = 240) -> dict:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def kill_group(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def wait_until(condition, timeout: float = 120, every: float = 0.1, *, what: str = "the condition") -> None:
    """Poll `condition` until true; past `timeout` s fail naming `what` was awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not reached in {timeout:.0f} s"
        time.sleep(every)


def calls(path: Path) -> list[tuple[float, float, int]]:
    if not path.exists():
        return []
    return [(float(x), float(y), int(seed)) for x, y, seed in (line.split(",") for line in path.read_text().split())]
