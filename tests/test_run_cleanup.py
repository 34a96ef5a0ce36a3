"""A run whose orchestration failed outside its own code is still cleaned up, by the sweeper."""

import asyncio

import azure.durable_functions as df
import pytest

from control_plane.api.sweeper import bp as sweeper_bp
from control_plane.orchestrators.cleanup import bp as cleanup_bp, cleanup_request
from tests.durable import ReplayDriver
from tests.local_plane import calls, fake, plane_driver, run_input, script
from tests.scripted_activities import ScriptedActivities

S = df.OrchestrationRuntimeStatus


@pytest.fixture
def driver():
    return plane_driver(cleanup_bp, sweeper_bp, purge_results={"deleted": 0})


def sweep(driver):
    asyncio.run(driver.call_client("sweep_failed_runs", timer=None))
    driver.drain(fire_timers=False)


def test_a_run_that_crashed_before_recording_its_plane_is_stopped_by_the_sweeper(driver):
    script["local_start_workspace"] = {"unexpected": "answer"}  # the orchestrator raises KeyError
    driver.start_new("run", "r1", run_input())
    driver.drain(fire_timers=False)
    assert driver.get_status("r1").runtime_status == S.Failed
    assert "local_stop_run" not in fake.names()  # the failed orchestration cleaned nothing
    sweep(driver)
    assert calls[-1] == ("local_stop_run", {"run_id": "r1", "purge": False})
    cleanup = driver.get_status("r1:cleanup")
    assert cleanup.runtime_status == S.Completed and cleanup.output["phase"] == "cleaned"
    sweep(driver)  # once per run
    assert fake.names().count("local_stop_run") == 1


def test_a_terminated_run_is_stopped_with_the_plane_its_last_execution_recorded(driver):
    driver.start_new("run", "r1", run_input())
    driver.drain(fire_timers=False)
    driver.raise_event("r1", "progress", {"done": 1, "budget": 20})
    driver.drain(fire_timers=False)  # a later execution, whose input holds the plane
    driver.terminate("r1", "stuck")
    driver.drain(fire_timers=False)
    assert driver.get_status("r1").runtime_status == S.Terminated
    sweep(driver)
    assert calls[-1] == ("local_stop_run", {"run_id": "r1", "purge": False})


def test_runs_that_ended_in_their_own_code_are_left_alone(driver):
    driver.start_new("run", "r1", run_input())
    driver.drain(fire_timers=False)
    driver.raise_event("r1", "cancel", {"purge": False})
    driver.drain(fire_timers=False)
    assert fake.names().count("local_stop_run") == 1
    sweep(driver)
    assert fake.names().count("local_stop_run") == 1 and not driver.get_status("r1:cleanup")


def test_a_cluster_run_is_stopped_in_its_namespace_on_the_environment_cluster():
    cluster = {"target": "existing", "kubeconfig_setting": "MODELOPS_EXISTING_KUBECONFIG"}
    environment = {"phase": "ready", "binding": {"cluster": cluster}}
    run = {"run_id": "r1", "target": "existing"}
    assert cleanup_request(run, environment, "run-r1") == {
        "run_id": "r1", "stop": ["k8s_delete_run", {"cluster": cluster, "namespace": "run-r1"}], "release": None}
    assert cleanup_request(run, None, "run-r1") is None  # no environment yet: nothing was created


def test_an_azure_run_also_releases_its_runners_federated_credential():
    where = {"subscription_id": "s", "resource_group": "modelops-dev-rg-ada"}
    cluster = where | {"target": "azure", "cluster_name": "modelops-dev-aks", "client_id": "c"}
    identity = where | {"identity_name": "modelops-dev-id", "identity_id": "i", "client_id": "c", "principal_id": "p"}
    environment = {"phase": "ready", "binding": {"cluster": cluster, "identity": identity}}
    request = cleanup_request({"run_id": "r1", "target": "azure"}, environment, "run-r1")
    assert request["release"] == ["azure_unfederate", where | {
        "identity_name": "modelops-dev-id", "namespace": "run-r1", "service_account": "runner"}]
    recorded = {"run_id": "r1", "target": "azure", "plane": {"stop": ["k8s_delete_run", {}], "release": ["x", {}]}}
    assert cleanup_request(recorded, environment, "run-r1")["release"] == ["x", {}]  # what the run recorded



def test_the_sweepers_cleanup_releases_the_credential_even_when_stopping_fails():
    cluster_plane = ScriptedActivities(("k8s_delete_run", "azure_unfederate"))
    cluster_plane.reset(k8s_delete_run=RuntimeError("API server unreachable"), azure_unfederate={"deleted": True})
    app = df.DFApp()
    for blueprint in (cleanup_bp, cluster_plane.bp):
        app.register_functions(blueprint)
    driver = ReplayDriver(app)
    request = {"run_id": "r1", "stop": ["k8s_delete_run", {"namespace": "run-r1"}],
               "release": ["azure_unfederate", {"namespace": "run-r1", "service_account": "runner"}]}
    driver.start_new("run_cleanup", "r1:cleanup", request)
    driver.drain()
    output = driver.get_status("r1:cleanup").output
    assert output["phase"] == "failed" and "API server unreachable" in output["error"]["reason"]
    assert cluster_plane.names() == ["k8s_delete_run"] * 3 + ["azure_unfederate"]
