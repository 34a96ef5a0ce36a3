"""A model that leaks memory is killed by the kernel, and the executor says so.

The real thing, not a simulation of it: the executor runs in a memory cgroup
with a limit (as a container's memory limit is one), the model leaks until the
kernel's OOM killer ends its process, and the executor reads the kernel's own
OOM-kill counter to tell that from any other SIGKILL.
"""

import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.services import service_unavailable

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 600 << 20

SCRIPT = """
import json, sys
with open(sys.argv[1], "w") as procs:
    procs.write("0")  # this process joins the cgroup; its simulation children are born in it
from modelops.services.executor import simulate
from modelops_contracts import SimTask, UniqueParameterSet
[(leaked, diagnostics)] = simulate([SimTask("installed", "tests.models:misbehaves",
                                            UniqueParameterSet.from_dict({"x": 1.0, "how": "leak"}), 1)])
[(after, _)] = simulate([SimTask("installed", "tests.models:quadratic", UniqueParameterSet.from_dict({"x": 1.0}), 1)])
print(json.dumps({"type": leaked.error.error_type, "message": leaked.error.message,
                  "stderr": diagnostics["stderr"], "after": after.error is None}))
"""


@contextlib.contextmanager
def memory_cgroup(limit: int):
    """A fresh memory cgroup (v2, or v1 where that is what the machine has) below this process's own."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            parent, limit_file = Path("/sys/fs/cgroup") / path.lstrip("/"), "memory.max"
        elif "memory" in controllers.split(","):
            parent, limit_file = Path("/sys/fs/cgroup/memory") / path.lstrip("/"), "memory.limit_in_bytes"
        else:
            continue
        group = parent / f"modelops-test-{uuid.uuid4().hex[:8]}"
        try:
            group.mkdir()
            (group / limit_file).write_text(str(limit))
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
            continue
        with contextlib.suppress(OSError):  # no swapping instead of an OOM kill, where swap exists
            (group / ("memory.swap.max" if limit_file == "memory.max" else "memory.swappiness")).write_text("0")
        try:
            yield group
        finally:
            group.rmdir()
        return
    service_unavailable("no writable memory cgroup to run a leaking model in")


def test_a_leaking_model_is_named_killed_by_the_kernel_out_of_memory_and_the_next_simulation_runs():
    with memory_cgroup(LIMIT) as group:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(group / "cgroup.procs")],
            cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["type"] == "SimulationCrashed"
    assert result["message"] == (
        "the simulation crashed its process twice: killed by the kernel: out of memory (SIGKILL)"
    )
    assert "about to leak" in result["stderr"]
    assert result["after"]  # the executor (in the same cgroup) survived and replaced its child
