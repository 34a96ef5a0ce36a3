"""The extension's HTTP management API, answered in-process.

The SDK's DurableOrchestrationClient talks to the host over HTTP (aiohttp `json=`
bodies). This module answers those requests from the driver with the status codes and
bodies the extension's HttpApiHandler uses, so the SDK's own client code, including its
quirks, runs unchanged against the driver.
"""
import base64
import json
import uuid
from typing import Any, Optional
from urllib.parse import parse_qs, unquote, urlsplit

from azure.durable_functions.models.history import HistoryEventType as T
from dateutil.parser import isoparse

from .errors import (DriverError, InstanceAlreadyExists, InstanceGone, InstanceNotFound,
                     UnknownFunction)
from .store import Status

HUB = "TestHubName"
RPC_BASE_URL = "http://127.0.0.1:17071/durabletask/"
WEBHOOK_URL = "http://localhost:7071/runtime/webhooks/durabletask"
QUERY = f"taskHub={HUB}&connection=Storage"
RUNNING = (Status.Running, Status.Pending, Status.ContinuedAsNew, Status.Suspended)
PAGE = 100  # the extension's page when a query names no `top`
TOKEN_HEADER = "x-ms-continuation-token"


def management_urls(instance_id: str) -> dict:
    base = f"{WEBHOOK_URL}/instances/{instance_id}"
    return {"id": instance_id,
            "statusQueryGetUri": f"{base}?{QUERY}",
            "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{QUERY}",
            "terminatePostUri": f"{base}/terminate?reason={{text}}&{QUERY}",
            "rewindPostUri": f"{base}/rewind?reason={{text}}&{QUERY}",
            "purgeHistoryDeleteUri": f"{base}?{QUERY}",
            "restartPostUri": f"{base}/restart?{QUERY}",
            "suspendPostUri": f"{base}/suspend?reason={{text}}&{QUERY}",
            "resumePostUri": f"{base}/resume?reason={{text}}&{QUERY}"}


def client_binding_json() -> str:
    """What the host passes a durable-client function as its binding value."""
    create = f"{WEBHOOK_URL}/orchestrators/{{functionName}}[/{{instanceId}}]"
    return json.dumps({
        "taskHubName": HUB,
        "creationUrls": {"createNewInstancePostUri": f"{create}?{QUERY}",
                         "createAndWaitOnNewInstancePostUri":
                             f"{create}?timeout={{timeoutInSeconds}}&pollingInterval="
                             f"{{intervalInSeconds}}&{QUERY}"},
        "managementUrls": management_urls("INSTANCEID"),
        "rpcBaseUrl": RPC_BASE_URL,
    })


class ExtensionHttpApi:
    """Stands in for post/get/delete_async_request; each returns [status_code, json_body]."""

    def __init__(self, driver: Any):
        self._driver = driver

    async def post(self, url: str, data: Any = None, trace_parent: Optional[str] = None,
                   trace_state: Optional[str] = None, function_invocation_id: Optional[str] = None):
        path, query = _route(url)
        if path[0] == "orchestrators":
            return self._start(path[1], path[2] if len(path) > 2 else None, data)
        if path[0] == "instances" and len(path) == 4 and path[2] == "raiseEvent":
            return self._raise_event(path[1], path[3], data)
        if path[0] == "instances" and len(path) == 3 and path[2] == "terminate":
            return self._answer(self._driver.terminate, path[1], query.get("reason"))
        raise NotImplementedError(f"the replay driver does not emulate POST {url}")

    async def get(self, url: str, function_invocation_id: Optional[str] = None):
        path, query = _route(url)
        if path[0] != "instances" or len(path) != 2:
            raise NotImplementedError(f"the replay driver does not emulate GET {url}")
        show_input = query.get("showInput", "true").lower() == "true"
        if not path[1]:  # the SDK reads the body only: a first page, its token dropped
            return [200, self.page(query, None)[0]]
        instance = next((i for i in self._driver.instances() if i.instance_id == path[1]), None)
        if instance is None:
            return [404, ""]  # get_async_request turns an empty body into ""
        return [202 if instance.status in RUNNING else 200,
                self._payload(instance, query, show_input)]

    async def get_page(self, url: str, token: Optional[str]):
        """GET /instances with the continuation header: (status, body, next token or None)."""
        path, query = _route(url)
        if path != ["instances", ""]:
            raise NotImplementedError(f"the replay driver does not emulate paging GET {url}")
        try:
            body, next_token = self.page(query, token)
        except ValueError as err:
            return 400, {"Message": str(err)}, None
        return 200, body, next_token

    def page(self, query: dict, token: Optional[str]) -> tuple:
        """Instances in creation order, `top` (default 100) at a time, like the Azure Storage
        provider: the token is opaque to clients and a bad one is refused."""
        show_input = query.get("showInput", "true").lower() == "true"
        top = int(query.get("top", PAGE))
        start = 0
        if token:
            try:
                start = int(json.loads(base64.b64decode(token, validate=True))["next"])
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"invalid continuation token: {err}") from None
        selected = [i for i in sorted(self._driver.instances(), key=lambda i: i.created) if _selected(i, query)]
        chunk = selected[start:start + top]
        more = start + top < len(selected)
        next_token = base64.b64encode(json.dumps({"next": start + top}).encode()).decode() if more else None
        return [self._payload(i, query, show_input) for i in chunk], next_token

    async def delete(self, url: str, function_invocation_id: Optional[str] = None):
        path, _ = _route(url)
        if path[0] != "instances" or len(path) != 2 or not path[1]:
            raise NotImplementedError(f"the replay driver does not emulate DELETE {url}")
        try:
            self._driver.purge(path[1])
        except InstanceNotFound:
            return [404, None]
        except DriverError as err:  # not in a terminal state
            return [412, str(err)]
        return [200, {"instancesDeleted": 1}]

    def _start(self, name: str, instance_id: Optional[str], data: Optional[str]):
        # The client posts `json=df_dumps(input)`, a JSON string literal around the input's
        # JSON text; the extension hands the orchestrator that inner text as its input.
        body = None if data is None else json.dumps(data)
        input_text = None if body is None else json.loads(body)
        try:
            instance_id = self._driver.start_with_text(name, instance_id or uuid.uuid4().hex,
                                                       input_text)
        except UnknownFunction as err:
            return [400, {"Message": "One or more of the arguments submitted is incorrect",
                          "ExceptionMessage": str(err),
                          "ExceptionType": "System.ArgumentException"}]
        except InstanceAlreadyExists as err:  # the real extension answers 500, not 409
            return [500, {"Message": "Something went wrong while processing your request",
                          "ExceptionMessage": str(err),
                          "ExceptionType": "System.InvalidOperationException"}]
        return [202, management_urls(instance_id)]

    def _raise_event(self, instance_id: str, name: str, data: str):
        # The client posts `json=json.dumps(event_data)`: the extension reads that body as a
        # JSON *string* and stores it re-serialized, so the orchestrator receives the text
        # json.dumps(event_data), not the object (azure-functions-durable-python issue 295).
        body = json.dumps(data)
        return self._answer(self._driver.raise_event_text, instance_id, name,
                            json.dumps(json.loads(body)))

    @staticmethod
    def _answer(operation, *args):
        try:
            operation(*args)
        except InstanceNotFound:
            return [404, None]
        except InstanceGone:
            return [410, None]
        return [202, None]

    @staticmethod
    def _payload(instance, query: dict, show_input: bool) -> dict:
        payload = instance.status_json(show_input)
        if query.get("showHistory", "").lower() == "true":
            show_output = query.get("showHistoryOutput", "").lower() == "true"
            payload["historyEvents"] = status_history(instance.execution.history, show_output)
        return json.loads(json.dumps(payload))


def status_history(events: list, show_output: bool) -> list:
    """The extension's condensed history for get_status(show_history=True)."""
    scheduled, kept = {}, []
    for event in json.loads(json.dumps(events)):
        kind = T(event.pop("EventType"))
        seq, _ = event.pop("EventId"), event.pop("IsPlayed")
        if kind in (T.ORCHESTRATOR_STARTED, T.ORCHESTRATOR_COMPLETED):
            continue
        if "TaskScheduledId" in event:  # a completion absorbs the event that scheduled it
            origin = scheduled.pop(event.pop("TaskScheduledId"), None)
            if origin is not None:
                kept.remove(origin)
                event.update(FunctionName=origin["Name"], ScheduledTime=origin["Timestamp"])
        if kind is T.EXECUTION_STARTED:
            event["FunctionName"] = event.pop("Name")
        for key in ("Input", "Version", "OrchestrationInstance", "ParentInstance", "Tags",
                    "TimerId"):
            event.pop(key, None)
        if not show_output:
            event.pop("Result", None)
        entry = {"EventType": "".join(w.capitalize() for w in kind.name.split("_")), **event}
        if kind in (T.TASK_SCHEDULED, T.SUB_ORCHESTRATION_INSTANCE_CREATED):
            scheduled[seq] = entry
        kept.append(entry)
    return kept


def _route(url: str) -> tuple:
    parts = urlsplit(url)
    path = parts.path.split("/durabletask/", 1)[1]
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    return [unquote(segment) for segment in path.split("/")], query


def _selected(instance, query: dict) -> bool:
    statuses = query.get("runtimeStatus")
    created_from, created_to = query.get("createdTimeFrom"), query.get("createdTimeTo")
    return ((not statuses or instance.status.value in statuses.split(","))
            and instance.instance_id.startswith(query.get("instanceIdPrefix", ""))
            and (not created_from or instance.created >= isoparse(created_from))
            and (not created_to or instance.created <= isoparse(created_to)))
