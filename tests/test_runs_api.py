"""`/api/runs` and `/api/environments` validation and lifecycle, on the real app and the replay driver."""

import copy
import json

import azure.functions as func

import pytest
import yaml

from tests.function_app_harness import AppHarness
from tests.test_cli import ROOT

SIR = yaml.safe_load((ROOT / "examples/sir/run.yaml").read_text())


@pytest.fixture
def app(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELOPS_RESULTS_ROOT", str(tmp_path / "runs"))
    monkeypatch.setenv("MODELOPS_LOCAL_STATE_DIR", str(tmp_path / "state"))
    return AppHarness()


def body(**changes):
    request = {"spec": copy.deepcopy(SIR), "target": "local", "environment": "dev"}
    for dotted, value in changes.items():
        node = request
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node[part]
        if value is DROP:
            del node[leaf]
        else:
            node[leaf] = value
    return request


DROP = object()
BAD = {
    "not json": (b"{nope", None),
    "not an object": ([1, 2], None),
    "no spec": (body(spec=DROP), "spec"),
    "unknown top-level field": (body(priority="high"), "priority"),
    "unknown document field": (body(spec__replicate=3), "spec.replicate"),
    "empty parameter space": (body(spec__parameters={}), "spec.parameters"),
    "reversed bounds": (body(spec__parameters={"R0": {"low": 5, "high": 1}}), "spec.parameters.R0"),
    "unknown algorithm": (body(spec__algorithm={"name": "grid"}), "spec.algorithm.name"),
    "replicates below one": (body(spec__replicates=0), "spec.replicates"),
    "bad entrypoint": (body(spec__model={"entrypoint": "not an entrypoint"}), "spec.model.entrypoint"),
    "no budget": (body(spec__budget=DROP), "spec.budget"),
    "mistyped budget": (body(spec__budget={"trials": "many"}), "spec.budget.trials"),
    "unknown target": (body(target="gcp"), "target"),
    "bad environment name": (body(environment="Prod Env"), "environment"),
    "bad run id": (body(run_id="Run_1"), "run_id"),
    "runners without central store": (body(spec__compute={"runners": 2}), "spec.central_store"),
}


@pytest.mark.parametrize("payload, field", BAD.values(), ids=BAD.keys())
def test_bad_requests_get_400_problem_json_with_field_errors_and_start_nothing(app, payload, field):
    status, problem, response = app.http("start_run", "POST", "/api/runs", payload)
    assert status == 400 and response.mimetype == "application/problem+json"
    assert problem["status"] == 400 and problem["title"]
    if field is not None:
        assert field in {error["field"] for error in problem["errors"]}, problem
    assert app.driver.instances() == []


def test_a_good_request_is_accepted_with_check_status_and_location(app):
    status, accepted, response = app.http("start_run", "POST", "/api/runs", body(run_id="sir-1"))
    assert status == 202 and response.headers["Location"] == "/api/runs/sir-1"
    assert accepted["run_id"] == "sir-1" and "statusQueryGetUri" in accepted
    assert [i.instance_id for i in app.driver.instances()] == ["sir-1"]


def test_posting_the_same_run_while_live_returns_it_instead_of_a_second_one(app):
    first = app.http("start_run", "POST", "/api/runs", body())
    second = app.http("start_run", "POST", "/api/runs", body())
    assert first[0] == second[0] == 202 and first[1]["run_id"] == second[1]["run_id"]
    assert first[1]["run_id"].startswith("sir-") and len(app.driver.instances()) == 1


def test_the_bundle_store_is_reported_and_a_bundle_it_lacks_is_refused_before_anything_starts(app, tmp_path):
    from control_plane.api.runs import get_bundle_store

    request = func.HttpRequest(method="GET", url="http://localhost:7071/api/bundle-store", body=b"")
    response = get_bundle_store.build().get_user_function()(request)  # a plain route: no durable client
    assert response.status_code == 200
    assert json.loads(response.get_body()) == {"url": str(tmp_path / "runs" / "_bundles")}
    missing = "sha256:" + "ab" * 32
    status, problem, _ = app.http("start_run", "POST", "/api/runs", body(spec__model={"entrypoint": "model:simulate",
                                                                                      "bundle": missing}))  # fmt: skip
    assert status == 400 and app.driver.instances() == []
    [error] = problem["errors"]
    assert error["field"] == "spec.model.bundle" and f"bundle {missing} is not in the bundle store" in error["message"]
    status, problem, _ = app.http("start_run", "POST", "/api/runs", body(bundle_store="ftp://elsewhere/x",
                                                                         spec__model={"entrypoint": "model:simulate",
                                                                                      "bundle": missing}))  # fmt: skip
    assert status == 400 and problem["errors"][0]["field"] == "bundle_store"
    status, problem, _ = app.http("start_run", "POST", "/api/runs", body(bundle_store=str(tmp_path / "elsewhere"),
                                                                         spec__model={"entrypoint": "model:simulate",
                                                                                      "bundle": missing}))  # fmt: skip
    assert status == 400 and "a folder other than the app's bundle store" in problem["errors"][0]["message"]
    assert not (tmp_path / "elsewhere").exists() and app.driver.instances() == []


def test_a_pushed_bundle_is_run_with_its_store_and_the_status_says_so(app, tmp_path):
    from control_plane.orchestrators.steps import status_of
    from modelops.spec import parse_spec, spec_digest
    from tests.bundle_models import pushed_growth_doc

    store = str(tmp_path / "runs" / "_bundles")
    spec, digest = pushed_growth_doc(tmp_path / "my-model", store)
    status, accepted, _ = app.http("start_run", "POST", "/api/runs", {"spec": spec, "run_id": "growth-1"})
    assert status == 202, accepted
    run = app.driver.get_status("growth-1").input_
    run = json.loads(run) if isinstance(run, str) else run
    assert (run["spec"]["model"]["bundle"], run["bundle_store"]) == (digest, store)  # references only
    assert status_of(run)["provenance"] == {"bundle": digest, "bundle_store": store,
                                            "spec_sha256": spec_digest(parse_spec(spec))}  # fmt: skip
    run["progress"] = {"summary": {"provenance": {"bundle": digest, "runner_version": "0.1.0"}}}
    assert status_of(run)["provenance"]["runner_version"] == "0.1.0"  # what the runner reports joins in


def test_unknown_runs_are_404_and_the_list_shows_runs(app):
    status, problem, _ = app.http("get_run", "GET", "/api/runs/nope", route={"run_id": "nope"})
    assert status == 404 and problem["title"] == "No such run"
    assert app.http("cancel_run", "DELETE", "/api/runs/nope", route={"run_id": "nope"})[0] == 404
    app.http("start_run", "POST", "/api/runs", body(run_id="sir-2"))
    status, listing, _ = app.http("list_runs", "GET", "/api/runs")
    assert status == 200 and [r["run_id"] for r in listing["runs"]] == ["sir-2"]
    assert listing["runs"][0]["phase"] == "accepted"


def test_environments_local_up_status_down(app):
    assert app.http("get_environment", "GET", "/api/environments/dev", route={"env": "dev"})[0] == 404
    status, _, response = app.http("change_environment", "PUT", "/api/environments/dev", {"target": "local"},
                                   route={"env": "dev"})  # fmt: skip
    assert status == 202 and response.headers["Location"] == "/api/environments/dev"
    app.driver.drain()
    status, env, _ = app.http("get_environment", "GET", "/api/environments/dev", route={"env": "dev"})
    assert status == 200 and env["phase"] == "ready" and env["binding"] == {"environment": "dev", "target": "local"}
    refused = app.http("change_environment", "PUT", "/api/environments/prod", {"target": "gcp"}, route={"env": "prod"})
    assert refused[0] == 400 and [e["field"] for e in refused[1]["errors"]] == ["target"]
    assert app.http("change_environment", "DELETE", "/api/environments/dev", route={"env": "dev"})[0] == 202
    app.driver.drain()
    assert app.http("get_environment", "GET", "/api/environments/dev", route={"env": "dev"})[1]["phase"] == "removed"
