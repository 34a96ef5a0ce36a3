"""Running one `SimTask` where it lands (in process or on a Dask worker).

A simulation that raises does not raise here: the error comes back in the
`SimReturn` (with its traceback beside it) so one bad parameter set fails one
trial, never the run.
"""

from __future__ import annotations

import time
import traceback

from modelops_contracts import ErrorInfo, SimReturn, SimTask, TableArtifact

from ..entrypoints import load_simulation
from ..ipc import to_ipc


def execute(task: SimTask) -> tuple[SimReturn, str | None]:
    """Run `task`; return its `SimReturn` and, when it failed, the traceback text."""
    started = time.perf_counter()
    try:
        raw = load_simulation(task.entrypoint)(dict(task.params.params), task.seed)
        encoded = to_ipc(raw)
        if task.outputs is not None:
            missing = [name for name in task.outputs if name not in encoded]
            if missing:
                raise KeyError(f"simulation did not return output(s) {missing}; it returned {sorted(encoded)}")
            encoded = {name: encoded[name] for name in task.outputs}
        if not encoded:
            raise ValueError("simulation returned no outputs")
        outputs = {name: TableArtifact.from_bytes(data) for name, data in encoded.items()}
        error, trace = None, None
    except Exception as exc:  # the model's failure is data for the trial, not a crash
        outputs, error, trace = {}, ErrorInfo(type(exc).__name__, str(exc) or repr(exc)), traceback.format_exc()
    seconds = time.perf_counter() - started
    return SimReturn(task_id=task.task_id, outputs=outputs, error=error, metrics={"seconds": seconds}), trace


def execute_task(task: SimTask) -> SimReturn:
    return execute(task)[0]
