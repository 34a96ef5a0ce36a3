"""Sample functions on which the replay driver's own tests run."""
import collections
import itertools
import json
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
ATTEMPTS = collections.Counter()
FLIPS = itertools.count()


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    return f"Hello {name}"


@app.activity_trigger(input_name="n")
def square(n: int) -> int:
    return n * n


@app.activity_trigger(input_name="job")
def flaky(job: dict) -> str:
    ATTEMPTS[job["key"]] += 1
    if ATTEMPTS[job["key"]] < job["succeed_on"]:
        raise RuntimeError(f"attempt {ATTEMPTS[job['key']]} failed")
    return f"ok after {ATTEMPTS[job['key']]}"


@app.function_name("greet_renamed")
@app.activity_trigger(input_name="name")
def greet(name: str) -> str:
    return f"Hi {name}"


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("say_hello", "Tokyo")
    second = yield context.call_activity(say_hello, "Seattle")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    n = context.get_input()["n"]
    squares = yield context.task_all([context.call_activity("square", i) for i in range(n)])
    return sum(squares)


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    timeout = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    approved = context.wait_for_external_event("Approved")
    winner = yield context.task_any([approved, timeout])
    if winner == approved:
        timeout.cancel()
    return {"approved": approved.result if winner == approved else None,
            "decided_at": context.current_utc_datetime.isoformat()}


@app.orchestration_trigger(context_name="context")
def waits_after_work(context: df.DurableOrchestrationContext):
    greeting = yield context.call_activity("say_hello", "early bird")
    first = yield context.wait_for_external_event("Go")
    context.set_custom_status("waiting for a second Go")
    second = yield context.wait_for_external_event("Go")
    return [greeting, first, second]


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=3)
    try:
        return (yield context.call_activity_with_retry("flaky", options, context.get_input()))
    except Exception as err:
        return {"gave_up": str(err)}


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    greetings = yield context.call_sub_orchestrator("chain")
    total = yield context.call_sub_orchestrator("fan_out", {"n": 3}, "fan-out-child")
    try:
        yield context.call_sub_orchestrator_with_retry("exploding", df.RetryOptions(1000, 2))
    except Exception as err:
        return {"chain": greetings, "fan_out": total, "child_error": str(err)}


@app.orchestration_trigger(context_name="context")
def tally(context: df.DurableOrchestrationContext):
    state = context.get_input()
    added = yield context.wait_for_external_event("add")
    state = {"total": state["total"] + added, "events": state["events"] + 1}
    if state["events"] == 5:
        return state
    context.continue_as_new(state)


@app.orchestration_trigger(context_name="context")
def staged(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting"})
    yield context.wait_for_external_event("Continue")
    context.set_custom_status({"stage": "done"})
    return "finished"


@app.orchestration_trigger(context_name="context")
def heartbeat(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    context.continue_as_new(context.get_input() + 1)


@app.orchestration_trigger(context_name="context")
def chatty(context: df.DurableOrchestrationContext):
    context.set_custom_status("x" * 9000)  # over 16 KB once UTF-16 encoded
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))


@app.orchestration_trigger(context_name="context")
def exploding(context: df.DurableOrchestrationContext):
    yield context.call_activity("say_hello", "boom")
    raise ValueError("calibration spec is invalid")


@app.orchestration_trigger(context_name="context")
def calls_missing_activity(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("no_such_activity", 1))


@app.orchestration_trigger(context_name="context")
def calls_renamed_by_object(context: df.DurableOrchestrationContext):
    return (yield context.call_activity(greet, "Oslo"))


@app.orchestration_trigger(context_name="context")
def nondeterministic(context: df.DurableOrchestrationContext):
    # Deliberately wrong: module state decides what to schedule, so a replay differs.
    activity = "say_hello" if next(FLIPS) % 2 == 0 else "square"
    return (yield context.call_activity(activity, 2))


@app.route(route="start/{name}")
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"], req.params.get("id"),
                                         json.loads(body) if body else None)
    return client.create_check_status_response(req, instance_id)


def events(history, kind):
    return [e for e in history if e["EventType"] == kind]


def start_request(name, instance_id=None, body=None):
    params = {"id": instance_id} if instance_id else {}
    return func.HttpRequest("POST", f"http://localhost:7071/api/start/{name}", params=params,
                            route_params={"name": name},
                            body=json.dumps(body).encode() if body is not None else b"")


