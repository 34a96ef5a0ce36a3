"""Every few minutes: clean up runs whose orchestration failed outside its own code.

A run the extension marked Failed or Terminated got no `_end`; this starts the
`run_cleanup` orchestration for it once (instance `<run id>:cleanup`).
"""

from __future__ import annotations

import json
import logging

import azure.durable_functions as df
import azure.functions as func

from control_plane.k8s.manifests import run_namespace
from control_plane.orchestrators.cleanup import cleanup_request

from . import instances

bp = df.Blueprint()
log = logging.getLogger(__name__)
UNCLEAN = {df.OrchestrationRuntimeStatus.Failed, df.OrchestrationRuntimeStatus.Terminated}


@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def sweep_failed_runs(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    started = await sweep(client)
    if started:
        log.info("cleanup started for runs %s", ", ".join(started))


async def sweep(client: df.DurableOrchestrationClient) -> list[str]:
    """Start `run_cleanup` for every failed run that has none yet; returns their ids."""
    started = []
    async for status in instances.every(client):
        if status.name != "run" or status.runtime_status not in UNCLEAN:
            continue
        run_id = status.instance_id
        if await client.get_status(f"{run_id}:cleanup"):
            continue
        run = _loaded((await client.get_status(run_id, show_input=True)).input_)
        environment = await client.get_status(f"{run_id}:environment")
        request = cleanup_request(run | {"run_id": run_id}, environment.output if environment else None,
                                  run_namespace(run_id))  # fmt: skip
        if request is not None:
            await client.start_new("run_cleanup", f"{run_id}:cleanup", request)
            started.append(run_id)
    return started


def _loaded(value) -> dict:
    value = json.loads(value) if isinstance(value, str) else value
    return value if isinstance(value, dict) else {}
