"""`/api/environments/{env}`: ensure, inspect or tear down a shared environment.

One owner of an environment's lifecycle: a change is refused (409) while another is in
progress, a teardown while live runs use the environment (naming them), and a run while
its environment is being torn down (see runs.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
import azure.functions as func
from pydantic import ValidationError

from control_plane.run_request import ENVIRONMENT_PATTERN, EnvironmentRequest
from modelops.spec import FieldError, SpecError

from . import instances
from .bodies import BodyRejected, read_json
from .responses import json_response, problem
from .targets import target_settings

bp = df.Blueprint()
_NAME = re.compile(ENVIRONMENT_PATTERN)


def instance_id(env: str) -> str:
    return f"environment-{env}"


def name_problem(env: str) -> func.HttpResponse | None:
    """400 naming the field when `env` is not an environment name, else None."""
    if _NAME.match(env):
        return None
    error = FieldError(("environment",), f"must match {ENVIRONMENT_PATTERN} (lowercase letters, digits and "
                                          f"inner hyphens, at most 20 characters)")  # fmt: skip
    return problem(400, "Invalid environment name", errors=[error])


async def tearing_down(client: df.DurableOrchestrationClient, env: str) -> bool:
    """True while a teardown of `env` is in progress."""
    status = await client.get_status(instance_id(env), show_input=True)
    return bool(status) and status.runtime_status in instances.LIVE and _input(status).get("action") == "down"


async def live_runs(client: df.DurableOrchestrationClient, env: str) -> list[str]:
    """The live runs that use `env`, by id."""
    found = []
    async for status in instances.every(client):
        if status.name == "run" and status.runtime_status in instances.LIVE:
            view = status.custom_status if isinstance(status.custom_status, dict) else {}
            if "environment" not in view:  # not started yet: its input says
                view = _input(await client.get_status(status.instance_id, show_input=True))
            if view.get("environment") == env:
                found.append(status.instance_id)
    return found


@bp.route(route="environments/{env}", methods=["PUT", "DELETE"])
@bp.durable_client_input(client_name="client")
async def change_environment(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    env = req.route_params["env"]
    if (bad := name_problem(env)) is not None:
        return bad
    if req.method == "PUT":
        try:
            body = read_json(req, empty={})
        except BodyRejected as rejected:
            return rejected.response
        if not isinstance(body, dict):
            return problem(400, "The body is not a JSON object", 'PUT {"target": "local" | "azure" | "existing"}')
        try:
            target = EnvironmentRequest.model_validate({**body, "environment": env}).target
        except ValidationError as exc:
            return problem(400, "Invalid environment request", errors=SpecError.from_validation(exc).errors)
        request: dict[str, Any] = {"environment": env, "target": target, "action": "up"} | target_settings(target)
    else:
        current = await client.get_status(instance_id(env), show_input=True)
        if not current:
            return problem(404, "No such environment", f"there is no environment {env!r}")
        target = _input(current).get("target", "local")
        request = {
            "environment": env,
            "target": target,
            "action": "down",
            "delete_rg": req.params.get("delete_rg", "").lower() == "true",
        } | target_settings(target)
        runs = await live_runs(client, env)
        if runs:
            return problem(409, "The environment is in use",
                           f"environment {env!r} has live runs: {', '.join(runs)}; cancel them first")  # fmt: skip
    existing = await client.get_status(instance_id(env))
    if existing and existing.runtime_status in instances.LIVE:
        return problem(409, "The environment is changing", f"environment {env!r} has an operation in progress")
    await client.start_new("environment", instance_id(env), request)
    return json_response({"environment": env, "action": request["action"]}, 202, {"Location": f"/api/environments/{env}"})


@bp.route(route="environments/{env}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_environment(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    env = req.route_params["env"]
    if (bad := name_problem(env)) is not None:
        return bad
    status = await client.get_status(instance_id(env))
    if not status:
        return problem(404, "No such environment", f"there is no environment {env!r}")
    view = status.output if isinstance(status.output, dict) else (status.custom_status or {"phase": "pending"})
    return json_response({"environment": env, "runtime_status": status.runtime_status.value} | view)


def _input(status: DurableOrchestrationStatus) -> dict[str, Any]:
    value = json.loads(status.input_) if isinstance(status.input_, str) else status.input_
    return value if isinstance(value, dict) else {}
