"""The isolated executor with real processes: models that kill, hang and flood their child."""

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from modelops.ipc import from_ipc
from modelops.services.executor import simulate, simulate_groups
from modelops.services import pool
from modelops.services.pool import POOLS, Environment
from modelops_contracts import SimTask, UniqueParameterSet
from tests.runner_processes import wait_until

ROOT = Path(__file__).resolve().parents[1]


def task(how="fine", x=1.0, seed=0, entrypoint="tests.models:misbehaves"):
    return SimTask("installed", entrypoint, UniqueParameterSet.from_dict({"x": x, "y": 0.0, "how": how}), seed)


def alone(*tasks, timeout=None):
    """Each task in a group of its own, all in one batch."""
    return [group[0] for group in simulate_groups([[t] for t in tasks], timeout=timeout)]


def value(result):
    return from_ipc({"curve": result.outputs["curve"].inline})["curve"]["value"][0]


@pytest.mark.parametrize(
    "how, reason, stderr",
    [
        ("segfault", "killed by signal SIGSEGV (Segmentation fault)", "Fatal Python error: Segmentation fault"),
        ("abort", "killed by signal SIGABRT (Aborted)", "Fatal Python error: Aborted"),
        ("exit", "exited with code 3", "about to exit"),
    ],
)
def test_a_simulation_that_kills_its_process_fails_alone_with_what_happened(how, reason, stderr):
    before, crashing, after = alone(task(x=2.0), task(how), task(x=4.0, seed=1))
    assert before[0].error is None and after[0].error is None  # the rest of the batch went on
    assert (value(before[0]), value(after[0])) == (1.0, 1.0)
    result, diagnostics = crashing
    assert result.error.error_type == "SimulationCrashed"
    assert result.error.message == f"the simulation crashed its process twice: {reason}"
    assert stderr in diagnostics["stderr"] and f"simulating x=1.0 with {how}" in diagnostics["stdout"]
    [[(again, _)]] = simulate_groups([[task()]])  # the child was replaced
    assert again.error is None


def test_a_crash_fails_its_group_and_skips_the_rest_of_it():
    [good, crashed, skipped], [other] = simulate_groups([[task(), task("exit"), task(seed=2)], [task(seed=3)]])
    assert good[0].error is None and other[0].error is None
    assert crashed[0].error.error_type == "SimulationCrashed"
    assert skipped[0].error.error_type == "NotRun" and "simulation 1 of its group" in skipped[0].error.message


def test_a_simulation_that_crashes_once_is_run_again_in_a_fresh_child(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_TEST_CALLS", str(tmp_path / "crashed-once"))
    [(result, _)] = simulate([task("crash_once")])
    assert (tmp_path / "crashed-once").exists()  # the first run crashed ...
    assert result.error is None and value(result) == 4.0  # ... the second succeeded


def test_a_simulation_running_past_the_timeout_is_stopped_and_the_rest_go_on():
    fast, hung, later = alone(task(), task("hang"), task(seed=1), timeout=1.0)
    assert fast[0].error is None and later[0].error is None
    assert hung[0].error.error_type == "SimulationTimeout"
    assert hung[0].error.message == "the simulation timed out after 1 s and was stopped"
    assert "about to hang" in hung[1]["stderr"]
    assert 1.0 <= hung[0].metrics["seconds"] < 30


def test_model_output_is_captured_per_simulation_bounded_and_kept_out_of_the_caller(capfd):
    [(quiet, _), (flooded, diagnostics)] = alone(task(), task("flood"))
    assert quiet.error is None
    assert flooded.error.error_type == "RuntimeError" and "flooded, then failed" in diagnostics["traceback"]
    assert "flood line 49999 " in diagnostics["stdout"] and len(diagnostics["stdout"]) <= 4096
    assert "simulating x=1.0 with fine" not in diagnostics["stdout"]  # the other simulation's output is its own
    out, err = capfd.readouterr()
    assert "flood line" not in out + err and "simulating" not in out + err


def test_a_model_sees_the_callers_environment_variables_as_they_are_now(tmp_path, monkeypatch):
    for name in ("first", "second"):  # the same warm child, new variables
        monkeypatch.setenv("MODELOPS_TEST_CALLS", str(tmp_path / name))
        [(result, _)] = simulate([SimTask("installed", "tests.models:records_calls", task().params, 5)])
        assert result.error is None and (tmp_path / name).read_text() == "5\n"


def test_an_environment_with_its_own_folder_on_the_path_gets_its_own_children(tmp_path):
    (tmp_path / "bundled_model.py").write_text(
        "import os, polars as pl\n"
        "def simulate(params, seed):\n"
        "    return {'pid': pl.DataFrame({'pid': [os.getpid()], 'cwd': [os.getcwd()]})}\n"
    )
    here = Environment.current()
    bundle = Environment(sys.executable, (str(tmp_path), *here.path), str(tmp_path), here.env)
    pset = UniqueParameterSet.from_dict({"x": 1.0})
    [(result, _)] = simulate([SimTask("installed", "bundled_model:simulate", pset, 1)], environment=bundle)
    frame = from_ipc({"pid": result.outputs["pid"].inline})["pid"]
    assert frame["cwd"][0] == str(tmp_path) and frame["pid"][0] != os.getpid()
    [(again, _)] = simulate([SimTask("installed", "bundled_model:simulate", pset, 2)], environment=bundle)
    assert from_ipc({"pid": again.outputs["pid"].inline})["pid"]["pid"][0] == frame["pid"][0]  # kept warm
    [(elsewhere, _)] = simulate([SimTask("installed", "bundled_model:simulate", pset, 1)])
    assert elsewhere.error.error_type == "EntrypointImportError"  # not on the default pool's path


def test_children_go_when_their_pool_is_closed():
    simulate([task()])
    children = [child for idle in POOLS._idle.values() for child in idle]
    POOLS.close()
    assert children
    for child in children:
        assert child.process.returncode is not None and not os.path.exists(child.folder)


def test_a_child_whose_parent_is_killed_goes_too(tmp_path):
    script = (
        "from modelops.services.executor import warm\n"
        "from modelops.services.pool import POOLS\n"
        "warm('tests.models:quadratic')\n"
        "[child] = [c for idle in POOLS._idle.values() for c in idle]\n"
        "print(child.process.pid, child.folder, flush=True)\n"
        "import time; time.sleep(3600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True
    )
    pid, folder = parent.stdout.readline().split()
    parent.kill()
    parent.wait()
    wait_until(lambda: gone(pid) and not os.path.exists(folder), timeout=60, what="the child and its folder gone")


def gone(pid: str) -> bool:
    """Exited (a zombie waiting for its new parent to reap it counts)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_a_simulation_flooding_its_output_never_grows_its_file_past_the_bound(monkeypatch):
    monkeypatch.setattr(pool, "OUTPUT_LIMIT", 256 << 10)
    monkeypatch.setattr(pool, "CHECK_SECONDS", 0.05)
    pset = UniqueParameterSet.from_dict({"seconds": 2.0})
    [(result, _)] = simulate([SimTask("installed", "tests.models:floods_and_measures", pset, 1)])
    [size] = from_ipc({"size": result.outputs["size"].inline})["size"].to_dicts()
    assert size["printed"] > 8 * (256 << 10)  # far past the bound ...
    assert size["bytes"] < size["printed"] / 4  # ... yet what stays on disk was cut down as it went


def test_an_environment_whose_interpreter_is_missing_fails_its_simulations_saying_so(tmp_path):
    here = Environment.current()
    missing = Environment(str(tmp_path / "no-python"), here.path, here.cwd, here.env)
    [(result, _)] = simulate([task()], environment=missing)
    assert result.error.error_type == "SimulationNotStarted"
    assert "cannot start a simulation process" in result.error.message and "no-python" in result.error.message


def test_only_the_outputs_a_task_names_are_encoded():
    params = UniqueParameterSet.from_dict({"x": 2.0, "y": 0.0})
    named = SimTask("installed", "tests.models:with_scratch_output", params, 0, outputs=("curve",))
    everything = SimTask("installed", "tests.models:with_scratch_output", params, 0)
    [(result, _)], [(unfiltered, _)] = simulate([named]), simulate([everything])
    assert result.error is None and set(result.outputs) == {"curve"} and value(result) == 1.0
    assert unfiltered.error.error_type == "TypeError" and "output 'scratch'" in unfiltered.error.message


def test_outcomes_past_the_spool_files_size_grow_it_and_survive_a_crash_the_next_batch_shrinks_it(monkeypatch):
    monkeypatch.setattr(pool, "SPOOL_BYTES", 1024)  # two outcomes of `misbehaves` fill it
    monkeypatch.setattr(pool, "SPOOL_REUSE_BYTES", 2048)
    POOLS.close()  # a fresh child, with a spool of that size
    xs = [2.0, 3.0, 4.0, 5.0, 6.0]
    results = alone(*(task(x=x) for x in xs[:4]), task("exit"), task(x=xs[4]))
    assert [value(r) for r, _ in results[:4] + results[5:]] == [(x - 3) ** 2 for x in xs]
    assert results[4][0].error.error_type == "SimulationCrashed"
    for _ in range(3):  # each batch grows the spool; the next starts it again from 0, at 1024 bytes
        assert [value(r) for r, _ in alone(*(task(x=x) for x in xs))] == [(x - 3) ** 2 for x in xs]
    assert value(alone(task(x=4.0))[0][0]) == 1.0
    [child] = POOLS._idle[Environment.current()]
    assert os.path.getsize(os.path.join(child.folder, "spool")) == 1024


def test_a_child_that_dies_before_reading_a_batch_that_reuses_the_spool_leaves_no_outcomes(monkeypatch):
    monkeypatch.setattr(pool, "SPOOL_REUSE_BYTES", 1)  # the second batch starts the spool again from 0
    child = pool.WarmChild(Environment.current())
    try:
        first, death = child.run([("tests.models:quadratic", {"x": 1.0}, 0, None)] * 2)
        assert len(first) == 2 and death is None
        os.kill(child.process.pid, signal.SIGSTOP)  # it cannot read the next request ...
        done = []
        sender = threading.Thread(target=lambda: done.append(child.run([("tests.models:quadratic", {"x": 2.0}, 0, None)])))
        sender.start()
        wait_until(lambda: _unread(child._requests), timeout=30, every=0.01, what="the request in the pipe")
        os.kill(child.process.pid, signal.SIGKILL)  # ... and dies with it unread
        sender.join(timeout=30)
        [(outcomes, death)] = done
        assert outcomes == [] and death is not None and "SIGKILL" in death.reason
    finally:
        child.close()


def _unread(fd: int) -> int:
    """Bytes waiting in the pipe `fd` is an end of."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def test_a_child_has_imported_scoring_before_its_first_request(tmp_path):
    """What scoring imports (~0.6 s of CPU) is paid at a child's start, not by the first trial it scores."""
    here = Environment.current()
    fresh = Environment(sys.executable, here.path, str(tmp_path), here.env)  # a pool, so a child, of its own
    pset = UniqueParameterSet.from_dict({"module": "scipy.special"})  # what likelihoods import
    [(result, _)] = simulate([SimTask("installed", "tests.models:imported", pset, 1)], environment=fresh)
    assert from_ipc({"curve": result.outputs["curve"].inline})["curve"]["value"].to_list() == [1.0]
