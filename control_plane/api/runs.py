"""`/api/runs`: start, follow, list and cancel calibration runs."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from pydantic import ValidationError

from control_plane.settings import setting
from modelops.naming import RUN_ID_MAX, check_run_id
from control_plane.run_request import RunRequest
from modelops.spec import SpecError

from .responses import json_response, problem
from .targets import target_settings

bp = df.Blueprint()
log = logging.getLogger(__name__)

APP_ROOT = Path(__file__).resolve().parent.parent
IMAGE_WORKDIR = "/app"  # runner/Dockerfile's WORKDIR: where cluster runners find the bundled examples
LIVE = {df.OrchestrationRuntimeStatus.Pending, df.OrchestrationRuntimeStatus.Running}


@bp.route(route="runs", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Validate the request, then start (or return the live) run orchestration."""
    try:
        body = req.get_json()
    except ValueError:
        return problem(400, "The body is not JSON", "POST a JSON object: {spec, target, environment, run_id}")
    if not isinstance(body, dict):
        return problem(400, "The body is not a JSON object", "POST a JSON object: {spec, target, environment, run_id}")
    try:
        request = RunRequest.model_validate(body)
    except ValidationError as exc:
        return problem(400, "Invalid run request", errors=SpecError.from_validation(exc).errors)
    run_id = request.default_run_id()
    existing = await client.get_status(run_id)
    if existing and existing.runtime_status in LIVE:
        return _accepted(client, req, run_id)
    if existing and existing.runtime_status is not None:  # a finished run of the same document: a new run
        run_id = check_run_id(f"{run_id[:RUN_ID_MAX - 13]}-{datetime.now(timezone.utc):%y%m%d%H%M%S}")
    try:
        await client.start_new("run", run_id, _run_input(request, run_id))
    except Exception as exc:  # another request started it between our check and our start
        if "already exists" not in str(exc):
            raise
    return _accepted(client, req, run_id)


def _run_input(request: RunRequest, run_id: str) -> dict[str, Any]:
    """The orchestration's input: plain values, references only, nothing secret."""
    now = datetime.now(timezone.utc)
    root = setting("MODELOPS_RESULTS_ROOT")
    results = f"{root.rstrip('/')}/{run_id}" if "://" in root else str((APP_ROOT / root / run_id).resolve())
    return {
        "run_id": run_id,
        "spec": request.spec.model_dump(mode="json", by_alias=True),
        "spec_dir": request.base_dir or (str(APP_ROOT) if request.target == "local" else IMAGE_WORKDIR),
        "target": request.target,
        "environment": request.environment,
        "results_url": results,
        "heartbeat_seconds": int(setting("MODELOPS_HEARTBEAT_SECONDS")),
        "deadline": (now + timedelta(hours=float(setting("MODELOPS_RUN_DEADLINE_HOURS")))).isoformat(),
        "phase": "accepted",
        "submitted_at": now.isoformat(),
    } | target_settings(request.target)


def _accepted(client: df.DurableOrchestrationClient, req: func.HttpRequest, run_id: str) -> func.HttpResponse:
    response = client.create_check_status_response(req, run_id)
    headers = dict(response.headers)
    headers["Location"] = f"/api/runs/{run_id}"
    body = json.loads(response.get_body()) | {"run_id": run_id}
    return json_response(body, 202, headers)


@bp.route(route="runs/{run_id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(req.route_params["run_id"])
    if not status or status.name != "run":
        return problem(404, "No such run", f"there is no run {req.route_params['run_id']!r}")
    return json_response(run_view(status))


@bp.route(route="runs", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def list_runs(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    statuses = [s for s in await client.get_status_all() if s.name == "run"]
    views = sorted((run_view(s) for s in statuses), key=lambda v: v["created_at"] or "", reverse=True)
    return json_response({"runs": views})


@bp.route(route="runs/{run_id}", methods=["DELETE"])
@bp.durable_client_input(client_name="client")
async def cancel_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    run_id = req.route_params["run_id"]
    status = await client.get_status(run_id)
    if not status or status.name != "run":
        return problem(404, "No such run", f"there is no run {run_id!r}")
    if status.runtime_status not in LIVE:
        return problem(409, "The run has already finished", f"run {run_id!r} is {run_view(status)['phase']}")
    await client.raise_event(run_id, "cancel", {"purge": req.params.get("purge", "").lower() == "true"})
    return json_response(run_view(status) | {"cancel_requested": True}, 202)


def run_view(status: df.DurableOrchestrationStatus) -> dict[str, Any]:
    """What users see of a run: its own status (output once finished), plus Durable's."""
    view = status.output if isinstance(status.output, dict) else status.custom_status
    if isinstance(view, str):
        view = json.loads(view)
    view = dict(view or {"run_id": status.instance_id, "phase": "accepted"})
    if status.runtime_status == df.OrchestrationRuntimeStatus.Failed:
        view["phase"] = "failed"
        view["error"] = view.get("error") or {"step": view.get("step"), "reason": str(status.output)[:500]}
    view["runtime_status"] = status.runtime_status.value if status.runtime_status else None
    view["created_at"] = _iso(status.created_time)
    view["updated_at"] = _iso(status.last_updated_time)
    return view


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
