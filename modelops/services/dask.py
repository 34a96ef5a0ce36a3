"""`SimulationService` on a Dask cluster.

Tasks are keyed by their content id (`SimTask.task_id`), so submitting the same
simulation twice while its result is held reuses it instead of running again.
"""

from __future__ import annotations

from collections.abc import Sequence

from distributed import Client, Future

from modelops_contracts import SimReturn, SimTask

from .execute import execute_task


class DaskSimulationService:
    def __init__(self, client: Client):
        self.client = client

    @classmethod
    def connect(cls, scheduler_address: str) -> DaskSimulationService:
        return cls(Client(scheduler_address))

    def submit(self, task: SimTask) -> Future:
        return self.client.submit(execute_task, task, key=f"sim-{task.task_id}", pure=False)

    def submit_batch(self, tasks: Sequence[SimTask]) -> list[Future]:
        return [self.submit(task) for task in tasks]

    def gather(self, futures: Sequence[Future]) -> list[SimReturn]:
        return self.client.gather(list(futures))
