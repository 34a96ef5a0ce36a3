"""Status URLs of long-running operations, answered the two ways ARMPolling reads them.

`Azure-AsyncOperation` URLs always answer 200 with a `status` field; ARMPolling then GETs
the resource itself for the final state of a PUT. `Location` URLs answer 202 while running
and the final status (200/204, or the error) when done, with no final GET.
"""

from collections.abc import Iterable

from tests.fakes.arm_requests import SUBSCRIPTION, Call, Route, route
from tests.fakes.arm_state import ArmError, Operation, Reply


def resource_operation_route(resource_pattern: str, api_versions: Iterable[str]) -> Route:
    """A status URL under the resource itself (`.../registries/{name}/operationStatuses/{id}`), as ACR hands out."""
    return route(resource_pattern + r"/operationStatuses/(?P<operation>[^/]+)", set(api_versions),
                 "NoRegisteredProviderFound", GET=operation_status)


def provider_operation_routes(namespace: str, api_versions: Iterable[str]) -> list[Route]:
    """The status URLs a resource provider hands out, under `locations/{location}`."""
    base = SUBSCRIPTION + rf"/providers/{namespace.replace('.', '[.]')}/locations/(?P<location>[^/]+)"
    versions = set(api_versions)
    return [
        route(base + r"/operations/(?P<operation>[^/]+)", versions, "NoRegisteredProviderFound", GET=operation_status),
        route(
            base + r"/operationresults/(?P<operation>[^/]+)",
            versions,
            "NoRegisteredProviderFound",
            GET=lambda call: operation_result(call, done_status=204),
        ),
    ]


def _find(call: Call) -> Operation:
    operation = call.state.operations.get(call.params["operation"])
    if operation is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{call.params['operation']}' was not found.")
    return operation


def operation_status(call: Call) -> Reply:
    """An Azure-AsyncOperation status: InProgress, then Succeeded or Failed with the error."""
    operation = _find(call)
    status = call.state.advance(operation)
    body = {"id": call.path, "name": operation.name, "status": status, "startTime": operation.start_time}
    if operation.end_time:
        body["endTime"] = operation.end_time
    if operation.error:
        body["error"] = operation.error
    headers = {"Retry-After": str(call.state.retry_after)} if status == "InProgress" else {}
    return Reply(200, body, headers)


def operation_result(call: Call, done_status: int) -> Reply:
    """A Location status: 202 (pointing at itself) while running, then the outcome."""
    operation = _find(call)
    status = call.state.advance(operation)
    if status == "InProgress":
        return Reply(202, None, {"Location": call.url, "Retry-After": str(call.state.retry_after)})
    if status in ("Failed", "Canceled"):
        raise ArmError(500, operation.error["code"], operation.error["message"])
    return Reply(done_status)
