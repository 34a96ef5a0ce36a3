"""The HTTP API at scale and at its limits: paging, environment ownership, body limits."""

import json

import azure.durable_functions as df
import pytest

from tests.function_app_harness import AppHarness
from tests.test_runs_api import body


@pytest.fixture
def app(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELOPS_RESULTS_ROOT", str(tmp_path / "runs"))
    monkeypatch.setenv("MODELOPS_LOCAL_STATE_DIR", str(tmp_path / "state"))
    return AppHarness()


def start_runs(app, count):
    """`count` run instances plus an environment sub-orchestration each, as the task hub holds them."""
    spec = json.dumps({"run_id": "x"})
    for n in range(count):
        app.driver.start_with_text("run", f"run-{n:03d}", spec)
        app.driver.start_with_text("environment", f"run-{n:03d}:environment", spec)


def test_two_hundred_and_fifty_runs_list_fully_through_paging(app):
    start_runs(app, 250)
    client_page = app.driver.client()
    import asyncio
    assert len(asyncio.run(client_page.get_status_all())) == 100  # the SDK reads one page only
    seen, continuation, pages = [], None, 0
    while True:
        params = {"limit": "40"} | ({"continuation": continuation} if continuation else {})
        status, listing, _ = app.http("list_runs", "GET", "/api/runs", params=params)
        assert status == 200 and len(listing["runs"]) <= 40
        seen += [run["run_id"] for run in listing["runs"]]
        pages += 1
        continuation = listing["continuation"]
        if continuation is None:
            break
    assert seen == [f"run-{n:03d}" for n in range(250)] and pages == 7
    status, listing, _ = app.http("list_runs", "GET", "/api/runs")
    assert len(listing["runs"]) == 100 and listing["continuation"]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"limit": "-1"}, {"limit": "²"},
                                    {"continuation": "not-a-token"}, {"continuation": "WzEsIDJd"},
                                    {"continuation": "WyJib2d1cyIsIDBd"}])  # fmt: skip
def test_bad_paging_parameters_are_400(app, params):
    start_runs(app, 3)
    status, problem, response = app.http("list_runs", "GET", "/api/runs", params=params)
    assert status == 400 and response.mimetype == "application/problem+json", problem


@pytest.mark.parametrize("env", ["Bad Name", "a" * 300, "a:b", "-dev", "dev-", "dév"])
def test_bad_environment_names_are_400_naming_the_field(app, env):
    for method, function in (("PUT", "change_environment"), ("DELETE", "change_environment"),
                             ("GET", "get_environment")):  # fmt: skip
        status, problem, _ = app.http(function, method, f"/api/environments/{env}", {}, route={"env": env})
        assert status == 400 and problem["errors"][0]["field"] == "environment"
    assert app.driver.instances() == []


@pytest.mark.parametrize("payload", [[1], "local", 7, {"target": "local", "size": 3}, {"target": 1}])
def test_bad_environment_bodies_are_400(app, payload):
    status, problem, _ = app.http("change_environment", "PUT", "/api/environments/dev", payload, route={"env": "dev"})
    assert status == 400 and problem["status"] == 400
    assert app.driver.instances() == []


def test_tearing_down_an_environment_with_live_runs_is_409_naming_them(app):
    app.http("change_environment", "PUT", "/api/environments/dev", {"target": "local"}, route={"env": "dev"})
    app.driver.drain()
    assert app.http("start_run", "POST", "/api/runs", body(run_id="sir-1"))[0] == 202
    assert app.http("start_run", "POST", "/api/runs", body(run_id="sir-2", environment="other"))[0] == 202
    status, problem, _ = app.http("change_environment", "DELETE", "/api/environments/dev", route={"env": "dev"})
    assert status == 409 and "sir-1" in problem["detail"] and "sir-2" not in problem["detail"]
    assert app.driver.get_status("environment-dev").runtime_status == df.OrchestrationRuntimeStatus.Completed


def test_a_run_is_refused_while_its_environment_is_torn_down(app):
    app.http("change_environment", "PUT", "/api/environments/dev", {"target": "local"}, route={"env": "dev"})
    app.driver.drain()
    assert app.http("change_environment", "DELETE", "/api/environments/dev", route={"env": "dev"})[0] == 202
    status, problem, _ = app.http("start_run", "POST", "/api/runs", body(run_id="sir-1"))
    assert status == 409 and "torn down" in problem["title"]
    assert [i.instance_id for i in app.driver.instances()] == ["environment-dev"]


def test_a_body_over_the_limit_is_413_and_deep_nesting_is_400(app):
    huge = json.dumps(body(run_id="sir-1") | {"padding": "x" * (1024 * 1024)}).encode()
    assert app.http("start_run", "POST", "/api/runs", huge)[0] == 413
    deep = b"[" * 100_000 + b"]" * 100_000
    for function, path, route in (("start_run", "/api/runs", None), ("events", "/api/events", None),
                                  ("change_environment", "/api/environments/dev", {"env": "dev"})):  # fmt: skip
        method = "PUT" if route else "POST"
        status, problem, _ = app.http(function, method, path, deep, route=route)
        assert status == 400 and "nested" in problem["title"], problem
    assert app.driver.instances() == []


@pytest.mark.parametrize("run_id", ["Bad Id", "a" * 300, "../x", "r1:environment"])
def test_run_ids_off_the_grammar_are_404_before_any_client_call(app, run_id):
    app.driver.start_with_text("environment", "r1:environment", json.dumps({}))
    for function, method in (("get_run", "GET"), ("cancel_run", "DELETE")):
        status, problem, _ = app.http(function, method, f"/api/runs/{run_id}", route={"run_id": run_id})
        assert status == 404 and problem["title"] == "No such run"


def test_a_run_between_two_executions_is_live(app):
    assert app.http("start_run", "POST", "/api/runs", body(run_id="sir-1"))[0] == 202
    instance = app.driver.instance("sir-1")
    instance.status = df.OrchestrationRuntimeStatus.ContinuedAsNew  # the moment continue_as_new commits
    status, answer, _ = app.http("cancel_run", "DELETE", "/api/runs/sir-1", route={"run_id": "sir-1"})
    assert status == 202 and answer["cancel_requested"] is True
    again = app.http("start_run", "POST", "/api/runs", body(run_id="sir-1"))
    assert again[0] == 202 and [i.instance_id for i in app.driver.instances()] == ["sir-1"]
