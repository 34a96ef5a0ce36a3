"""Running one simulation in this process: what a simulation child does per task.

Inputs and results are plain values (strings, dicts, numbers, bytes), because
they cross a process boundary, possibly into another interpreter (a bundle's
own venv). A simulation that raises does not raise here: its error comes back
as data, so one bad parameter set fails one trial, never the run.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ..entrypoints import load_simulation
from ..ipc import as_tables, to_ipc


class Outcome(NamedTuple):
    """One simulation's result: Arrow IPC bytes per output, or why it failed."""

    outputs: dict[str, bytes]
    error: tuple[str, str] | None  # (exception type, message)
    traceback: str | None
    seconds: float


def run_simulation(
    entrypoint: str,
    params: Mapping[str, Any],
    seed: int,
    outputs: Sequence[str] | None = None,
    tables: dict[str, Any] | None = None,
) -> Outcome:
    """Run one simulation; its outputs come back encoded, or, given `tables`, are put there unencoded
    for scoring in this process (the outcome then holds none)."""
    started = time.perf_counter()
    try:
        returned = load_simulation(entrypoint)(dict(params), seed)
        chosen = returned if outputs is None else _requested(returned, outputs)
        encoded = to_ipc(chosen) if tables is None else as_tables(chosen)
        if not encoded:
            raise ValueError("simulation returned no outputs")
        if tables is not None:
            tables.update(encoded)
            encoded = {}
        return Outcome(encoded, None, None, time.perf_counter() - started)
    except Exception as exc:  # the model's failure is data for the trial, not a crash
        error = (type(exc).__name__, str(exc) or repr(exc))
        return Outcome({}, error, traceback.format_exc(), time.perf_counter() - started)


def _requested(returned: Any, outputs: Sequence[str]) -> Any:
    """The outputs the caller reads: the others are not encoded only to be dropped."""
    if type(returned) is not dict and not isinstance(returned, Mapping):  # a dict skips the slow ABC check
        return returned  # to_ipc says what it must be
    missing = [name for name in outputs if name not in returned]
    if missing:
        raise KeyError(f"simulation did not return output(s) {missing}; it returned {sorted(returned)}")
    return {name: returned[name] for name in outputs}
