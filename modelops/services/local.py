"""In-process `SimulationService`: for tests, debugging and tiny runs."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future

from modelops_contracts import SimReturn, SimTask

from .execute import execute_task


class LocalSimulationService:
    """Runs each task at submit time; its future is already resolved."""

    def submit(self, task: SimTask) -> Future[SimReturn]:
        future: Future[SimReturn] = Future()
        future.set_result(execute_task(task))
        return future

    def submit_batch(self, tasks: Sequence[SimTask]) -> list[Future[SimReturn]]:
        return [self.submit(task) for task in tasks]

    def gather(self, futures: Sequence[Future[SimReturn]]) -> list[SimReturn]:
        return [future.result() for future in futures]
