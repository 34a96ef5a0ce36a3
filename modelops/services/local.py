"""In-process `SimulationService`: for tests, debugging and tiny runs.

"In process" is the service, not the simulation: each task still runs in a
warm child (`executor.simulate`), so a crashing model cannot take the caller down.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future

from modelops_contracts import SimReturn, SimTask

from .executor import simulate_groups


class LocalSimulationService:
    """Runs tasks at submit time; their futures are already resolved."""

    def __init__(self, timeout: float | None = None):
        self.timeout = timeout

    def submit(self, task: SimTask) -> Future[SimReturn]:
        return self.submit_batch([task])[0]

    def submit_batch(self, tasks: Sequence[SimTask]) -> list[Future[SimReturn]]:
        futures = []
        for [(result, _)] in simulate_groups([[task] for task in tasks], timeout=self.timeout):
            future: Future[SimReturn] = Future()
            future.set_result(result)
            futures.append(future)
        return futures

    def gather(self, futures: Sequence[Future[SimReturn]]) -> list[SimReturn]:
        return [future.result() for future in futures]
