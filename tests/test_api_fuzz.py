"""No input makes the HTTP API answer 5xx or raise, and a refused request starts nothing.

Hypothesis sends well over 2,000 requests across `/api/runs`, `/api/runs/{id}`,
`/api/environments/{env}` and `/api/events`: arbitrary bytes, arbitrary JSON, valid
documents and events with one field broken, odd route parameters and query strings."""

import asyncio
import copy
import json

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelops.events import ProgressEvents
from tests.durable import ReplayDriver
from tests.test_runs_api import SIR

SENT = {"requests": 0}
FUZZ = settings(max_examples=800, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=20)  # fmt: skip
names = st.one_of(st.text(max_size=70), st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True),
                  st.sampled_from(["dev", "r1:environment", "../x", "a" * 300, "run-1", "sir-1"]))  # fmt: skip


@pytest.fixture(scope="module")
def app_driver():
    from function_app import app

    return lambda: ReplayDriver(app)


def broken(document, data):
    """`document` with one value somewhere replaced by anything (or a key added)."""
    document = copy.deepcopy(document)
    node = document
    while isinstance(node, dict) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(node)))
        if not isinstance(node[key], dict):
            break
        node = node[key]
    if isinstance(node, dict):
        key = data.draw(st.one_of(st.sampled_from(sorted(node) or ["x"]), st.text(max_size=8)))
        node[key] = data.draw(json_values)
    return document


def a_run_event(run_id):
    return ProgressEvents(run_id, 10).trial_completed(1, "p1", {"x": 1.0}, 0.5, "ok")


def bodies(data, valid):
    kind = data.draw(st.sampled_from(["bytes", "json", "broken", "valid", "deep"]))
    if kind == "bytes":
        return data.draw(st.binary(max_size=200))
    if kind == "deep":
        depth = data.draw(st.integers(30, 5000))
        return (data.draw(st.sampled_from(["[", '{"a":'])) * depth).encode()
    if kind == "json":
        return json.dumps(data.draw(json_values)).encode()
    document = valid() if kind == "valid" else broken(valid(), data)
    return json.dumps(document).encode()


def request(method, path, body, params, route):
    return func.HttpRequest(method=method, url=f"http://localhost:7071{path}", body=body, params=params,
                            route_params=route, headers={"content-type": "application/json"})  # fmt: skip


def send(driver, function, req):
    SENT["requests"] += 1
    before = {i.instance_id for i in driver.instances()}
    response = asyncio.run(driver.call_client(function, req=req))
    assert response.status_code < 500, response.get_body()
    if response.status_code >= 400:
        assert {i.instance_id for i in driver.instances()} == before  # nothing started
        assert response.mimetype == "application/problem+json"
    return response


@given(data=st.data())
@FUZZ
def test_runs_never_answer_5xx(app_driver, data):
    driver = app_driver()
    valid = lambda: {"spec": copy.deepcopy(SIR), "target": "local", "environment": "dev"}  # noqa: E731
    choice = data.draw(st.sampled_from(["post", "get", "delete", "list"]))
    if choice == "post":
        send(driver, "start_run", request("POST", "/api/runs", bodies(data, valid), {}, {}))
    elif choice == "list":
        params = data.draw(st.dictionaries(st.sampled_from(["limit", "continuation", "other"]), st.text(max_size=30)))
        send(driver, "list_runs", request("GET", "/api/runs", b"", params, {}))
    else:
        run_id = data.draw(names)
        function = "get_run" if choice == "get" else "cancel_run"
        send(driver, function, request(choice.upper(), f"/api/runs/{run_id}", b"", {}, {"run_id": run_id}))


@given(data=st.data())
@FUZZ
def test_environments_never_answer_5xx(app_driver, data):
    driver = app_driver()
    env = data.draw(names)
    method = data.draw(st.sampled_from(["PUT", "DELETE", "GET"]))
    body = bodies(data, lambda: {"target": "local"}) if method == "PUT" else b""
    params = data.draw(st.dictionaries(st.sampled_from(["delete_rg"]), st.text(max_size=5)))
    function = "get_environment" if method == "GET" else "change_environment"
    send(driver, function, request(method, f"/api/environments/{env}", body, params, {"env": env}))


@given(data=st.data())
@FUZZ
def test_events_never_answer_5xx(app_driver, data):
    driver = app_driver()
    driver.start_with_text("run", "run-1", None)  # a live run, so valid events are forwarded
    run_id = data.draw(st.sampled_from(["run-1", "gone"]))
    body = bodies(data, lambda: [a_run_event(run_id)] * data.draw(st.integers(1, 3)))
    response = send(driver, "events", request("POST", "/api/events", body, {}, {}))
    assert response.status_code in (200, 400, 413)


def test_the_fuzz_tests_sent_over_two_thousand_requests():
    assert SENT["requests"] >= 2000, SENT
