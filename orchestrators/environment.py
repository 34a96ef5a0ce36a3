"""The environment orchestration: ensure or tear down a shared environment.

An environment (cluster → registry → workspace) is shared by runs; each step is
resumable and idempotent. Runs ensure it as a sub-orchestration; `PUT/DELETE
/api/environments/{env}` run it on their own. The `local` target needs no
shared resources: its binding says so.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context", orchestration="environment")
def environment_orchestrator(context: df.DurableOrchestrationContext):
    request: dict[str, Any] = context.get_input()
    binding = {"environment": request["environment"], "target": request["target"]}
    phase = "ready" if request["action"] == "up" else "removed"
    context.set_custom_status({"phase": phase, "binding": binding})
    return {"phase": phase, "binding": binding}
