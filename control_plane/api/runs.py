"""`/api/runs`: start, follow, list and cancel calibration runs.

Every input is checked before any client call (body size and depth, the run id's grammar,
`limit` and `continuation`), so no request answers 5xx for what it sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
import azure.functions as func
from pydantic import ValidationError

from control_plane.run_request import RunRequest
from control_plane.settings import APP_ROOT, setting
from modelops.naming import RUN_ID_MAX, check_run_id
from modelops.bundles import BundleError, BundleStore
from modelops.spec import FieldError, SpecError, spec_digest

from . import instances
from .bodies import BodyRejected, read_json
from .environments import tearing_down
from .responses import json_response, problem
from .targets import target_settings

bp = df.Blueprint()
log = logging.getLogger(__name__)

IMAGE_WORKDIR = "/app"  # runner/Dockerfile's WORKDIR: where cluster runners find the bundled examples
LIVE = instances.LIVE
LIMIT_MAX = 100


@bp.route(route="runs", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Validate the request, then start (or return the live) run orchestration."""
    try:
        body = read_json(req)
    except BodyRejected as rejected:
        return rejected.response
    if not isinstance(body, dict):
        return problem(400, "The body is not a JSON object", "POST a JSON object: {spec, target, environment, run_id}")
    try:
        request = RunRequest.model_validate(body)
    except ValidationError as exc:
        return problem(400, "Invalid run request", errors=SpecError.from_validation(exc).errors)
    if await tearing_down(client, request.environment):
        return problem(409, "The environment is being torn down",
                       f"environment {request.environment!r} is being removed; start the run once it is gone")  # fmt: skip
    bundle_problem = _missing_bundle(request)
    if bundle_problem is not None:
        return bundle_problem
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


@bp.route(route="bundle-store", methods=["GET"])
def get_bundle_store(req: func.HttpRequest) -> func.HttpResponse:
    """Where `mops run` pushes a model's bundle before submitting the run that names it."""
    return json_response({"url": bundle_store_url()})


def bundle_store_url() -> str:
    """The app's bundle store: the setting, or `_bundles` under the results root (never a run id)."""
    url = setting("MODELOPS_BUNDLE_STORE") or f"{setting('MODELOPS_RESULTS_ROOT').rstrip('/')}/_bundles"
    return url if "://" in url else str((APP_ROOT / url).resolve())


def _missing_bundle(request: RunRequest) -> func.HttpResponse | None:
    """A problem response when the document names a bundle its store does not have; nothing starts."""
    digest = request.spec.model.bundle
    if digest is None or not digest.startswith("sha256:"):
        return None
    store = request.bundle_store or bundle_store_url()
    if "://" not in store and store != bundle_store_url():  # no request names a folder on the app's machine
        message = f"{store!r}: a folder other than the app's bundle store ({bundle_store_url()}); use a blob URL"
        return problem(400, "Invalid run request", errors=[FieldError(("bundle_store",), message)])
    try:
        found = BundleStore(store).has(digest)
    except BundleError as exc:
        return problem(400, "Invalid run request", errors=[FieldError(("bundle_store",), str(exc))])
    except Exception as exc:  # the storage SDK's own errors: the store is there but did not answer
        log.warning("bundle store %s did not answer: %s", store, exc)
        return problem(503, "The bundle store did not answer", f"cannot check bundle {digest} in {store}")
    if found:
        return None
    message = f"bundle {digest} is not in the bundle store {store}: push it first (mops bundle push DIR --to {store})"
    return problem(400, "Invalid run request", errors=[FieldError(("spec", "model", "bundle"), message)])


def _run_input(request: RunRequest, run_id: str) -> dict[str, Any]:
    """The orchestration's input: plain values, references only, nothing secret."""
    now = datetime.now(timezone.utc)
    root = setting("MODELOPS_RESULTS_ROOT")
    results = f"{root.rstrip('/')}/{run_id}" if "://" in root else str((APP_ROOT / root / run_id).resolve())
    return {
        "run_id": run_id,
        "spec": request.spec.model_dump(mode="json", by_alias=True),
        "spec_sha256": spec_digest(request.spec),
        "spec_dir": request.base_dir or (str(APP_ROOT) if request.target == "local" else IMAGE_WORKDIR),
        "target": request.target,
        "environment": request.environment,
        "results_url": results,
        "bundle_store": request.bundle_store or bundle_store_url(),
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
    run_id = req.route_params["run_id"]
    status = await client.get_status(run_id, show_input=True) if is_run_id(run_id) else None
    if not status or status.name != "run":
        return problem(404, "No such run", f"there is no run {run_id!r}")
    return json_response(run_view(status) | _full_best(status))


def _full_best(status: DurableOrchestrationStatus) -> dict[str, Any]:
    """While running, custom status may shorten the best parameters: the full set is in the
    execution's input (as of its last wake-up)."""
    if isinstance(status.output, dict):  # finished: the output has them all
        return {}
    view = status.custom_status if isinstance(status.custom_status, dict) else {}
    best = view.get("best")
    if not isinstance(best, dict) or not best.get("params_omitted"):
        return {}
    run = json.loads(status.input_) if isinstance(status.input_, str) else status.input_
    params = ((run or {}).get("progress") or {}).get("best_params")
    if not isinstance(params, dict):
        return {}
    return {"best": {k: v for k, v in best.items() if k != "params_omitted"} | {"params": params}}


@bp.route(route="runs", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def list_runs(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Runs only (not environments), oldest first, `limit` at a time with a `continuation`."""
    raw_limit = req.params.get("limit", str(LIMIT_MAX))
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= LIMIT_MAX:
        return problem(400, "Invalid limit", f"limit must be a whole number from 1 to {LIMIT_MAX}")
    limit = int(raw_limit)
    try:
        token, skip = _cursor(req.params.get("continuation"))
    except ValueError:
        return problem(400, "Invalid continuation", "pass back the continuation of a previous answer unchanged")
    runs: list[DurableOrchestrationStatus] = []
    while True:
        try:
            found, next_token = await instances.page(client, token)
        except RuntimeError:
            if token is None:
                raise
            return problem(400, "Invalid continuation", "the continuation is not one this API gave")
        page_runs = [status for status in found if status.name == "run"]
        taken = page_runs[skip:skip + limit - len(runs)]
        runs += taken
        if len(runs) == limit and skip + len(taken) < len(page_runs):
            continuation = _token(token, skip + len(taken))
            break
        if len(runs) == limit or next_token is None:
            continuation = None if next_token is None else _token(next_token, 0)
            break
        token, skip = next_token, 0
    return json_response({"runs": [run_view(status) for status in runs], "continuation": continuation})


def is_run_id(text: str) -> bool:
    """Checked before any client call: an id off the grammar is no run of ours."""
    try:
        check_run_id(text)
    except ValueError:
        return False
    return True


def _token(extension_token: str | None, skip: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([extension_token, skip]).encode()).decode()


def _cursor(continuation: str | None) -> tuple[str | None, int]:
    """Our continuation: the extension's page token and how many runs of that page were shown."""
    if not continuation:
        return None, 0
    try:
        token, skip = json.loads(base64.urlsafe_b64decode(continuation.encode("ascii")))
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        raise ValueError("not a continuation") from None
    if not (token is None or isinstance(token, str)) or not isinstance(skip, int) or isinstance(skip, bool) \
            or not 0 <= skip <= instances.PAGE:
        raise ValueError("not a continuation")
    return token, skip


@bp.route(route="runs/{run_id}", methods=["DELETE"])
@bp.durable_client_input(client_name="client")
async def cancel_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    run_id = req.route_params["run_id"]
    status = await client.get_status(run_id) if is_run_id(run_id) else None
    if not status or status.name != "run":
        return problem(404, "No such run", f"there is no run {run_id!r}")
    if status.runtime_status not in LIVE:
        return problem(409, "The run has already finished", f"run {run_id!r} is {run_view(status)['phase']}")
    await client.raise_event(run_id, "cancel", {"purge": req.params.get("purge", "").lower() == "true"})
    return json_response(run_view(status) | {"cancel_requested": True}, 202)


def run_view(status: DurableOrchestrationStatus) -> dict[str, Any]:
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
