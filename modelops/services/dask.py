"""`SimulationService` on a Dask cluster.

Tasks are keyed by their content id (`SimTask.task_id`), so submitting the same
simulation twice while its result is held reuses it instead of running again.
On the worker each task runs in a warm child process (`executor.simulate`).
"""

from __future__ import annotations

from collections.abc import Sequence

from distributed import Client, Future

from modelops_contracts import SimReturn, SimTask

from .executor import simulate


def simulate_one(task: SimTask, timeout: float | None = None) -> SimReturn:
    return simulate([task], timeout=timeout)[0][0]


class DaskSimulationService:
    def __init__(self, client: Client, timeout: float | None = None):
        self.client = client
        self.timeout = timeout

    @classmethod
    def connect(cls, scheduler_address: str, timeout: float | None = None) -> DaskSimulationService:
        return cls(Client(scheduler_address), timeout)

    def submit(self, task: SimTask) -> Future:
        return self.client.submit(simulate_one, task, self.timeout, key=f"sim-{task.task_id}", pure=False)

    def submit_batch(self, tasks: Sequence[SimTask]) -> list[Future]:
        return [self.submit(task) for task in tasks]

    def gather(self, futures: Sequence[Future]) -> list[SimReturn]:
        return self.client.gather(list(futures))
