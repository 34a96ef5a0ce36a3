"""Index the app's functions by the names the host registers; run activities as the worker does."""
import asyncio
import inspect
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from azure.durable_functions.constants import (ACTIVITY_TRIGGER, DURABLE_CLIENT,
                                               ORCHESTRATION_TRIGGER)
from azure.functions import meta
from azure.functions.decorators.function_app import FunctionBuilder
from azure.functions.durable_functions import ActivityTriggerConverter

from .errors import DriverError
from .history import failure_details


@dataclass(frozen=True)
class Activity:
    """An activity's user function and the parameter its input binds to."""
    name: str
    fn: Callable
    param: str


@dataclass(frozen=True)
class ClientFunction:
    """The raw `async def` behind a durable-client function and its client parameter."""
    name: str
    fn: Callable
    param: str


@dataclass(frozen=True)
class ActivityResult:
    """JSON text of the return value, or the Reason/Details of a TaskFailed."""
    result_text: Optional[str] = None
    reason: Optional[str] = None
    details: Optional[str] = None

    @property
    def failed(self) -> bool:
        return self.reason is not None


@dataclass
class FunctionIndex:
    """Orchestrator handles, activities and client functions by registered name."""
    orchestrators: dict = field(default_factory=dict)
    activities: dict = field(default_factory=dict)
    clients: dict = field(default_factory=dict)

    @classmethod
    def of(cls, app: Any) -> "FunctionIndex":
        """Index a DFApp/Blueprint, or a mapping of name -> FunctionBuilder/Function."""
        if isinstance(app, Mapping):
            built = [(name, _build(fn)) for name, fn in app.items()]
        else:
            # Not app.get_functions(): it refuses to run twice on the same app.
            built = [(None, fb.build()) for fb in app._function_builders]
        index = cls()
        for given_name, function in built:
            index._add(given_name, function)
        return index

    def _add(self, given_name: Optional[str], function: Any) -> None:
        trigger = function.get_trigger()
        kind = trigger.get_binding_name() if trigger is not None else None
        user_fn = function.get_user_function()
        if kind == ORCHESTRATION_TRIGGER:
            name = given_name or trigger.orchestration or function.get_function_name()
            self._put(self.orchestrators, name, user_fn)
        elif kind == ACTIVITY_TRIGGER:
            name = given_name or trigger.activity or function.get_function_name()
            self._put(self.activities, name, Activity(name, user_fn, trigger.name))
        client = next((b for b in function.get_bindings()
                       if b.get_binding_name() == DURABLE_CLIENT), None)
        if client is not None:
            name = given_name or function.get_function_name()
            raw = getattr(user_fn, "client_function", user_fn)
            self._put(self.clients, name, ClientFunction(name, raw, client.name))

    @staticmethod
    def _put(table: dict, name: str, value: Any) -> None:
        if name in table:
            raise DriverError(f"two functions are registered as '{name}'")
        table[name] = value


def _build(fn: Any) -> Any:
    return fn.build() if isinstance(fn, FunctionBuilder) else fn


def run_coroutine(awaitable: Any) -> Any:
    """Finish a coroutine from sync code, even when called inside a running event loop."""
    async def wrapper():
        return await awaitable
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrapper())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wrapper()).result()


def run_activity(activity: Activity, input_text: str) -> ActivityResult:
    """Decode the input and encode the output with the worker's own ActivityTriggerConverter."""
    try:
        value = ActivityTriggerConverter.decode(meta.Datum(input_text, "json"),
                                                trigger_metadata=None)
        result = activity.fn(**{activity.param: value})
        if inspect.isawaitable(result):
            result = run_coroutine(result)
        return ActivityResult(ActivityTriggerConverter.encode(result, expected_type=None).value)
    except Exception as exc:  # the worker reports any activity exception as a failure
        error = f"{type(exc).__name__}: {exc}"
        return ActivityResult(reason=f"Activity function '{activity.name}' failed: {error}",
                              details=failure_details(f"Exception: {error}",
                                                      traceback.format_exc()))

