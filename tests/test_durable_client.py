"""The durable-client double, backed by the replay driver, behaves like the SDK's client."""
import asyncio
import json

import azure.durable_functions as df
import pytest

from tests.durable import InstanceAlreadyExists, ReplayDriver, Status
from tests.durable_samples import app, start_request

@pytest.fixture
def driver():
    return ReplayDriver(app)


def test_client_double_start_new_duplicates_and_overwrites(driver):
    async def scenario():
        response = await driver.call_client("http_start", req=start_request("chain", "job-1"))
        assert response.status_code == 202
        assert response.headers["Location"].startswith(
            "http://localhost:7071/runtime/webhooks/durabletask/instances/job-1?")
        assert json.loads(response.get_body())["id"] == "job-1"
        with pytest.raises(Exception, match="status Pending already exists"):
            await driver.call_client("http_start", req=start_request("chain", "job-1"))
        client = driver.client()
        await driver.run_until_idle()
        first = await client.get_status("job-1")
        assert first.runtime_status is df.OrchestrationRuntimeStatus.Completed
        await client.start_new("fan_out", "job-1", {"n": 2})  # a finished id is overwritten
        again = await client.get_status("job-1")
        assert (again.name, again.runtime_status, again.input_) == \
            ("fan_out", df.OrchestrationRuntimeStatus.Pending, '{"n": 2}')
        with pytest.raises(Exception, match="doesn't exist"):
            await client.start_new("no_such_orchestrator")
    asyncio.run(scenario())


def test_client_double_status_events_terminate_and_purge(driver):
    async def scenario():
        client = driver.client()
        assert not await client.get_status("nobody")
        with pytest.raises(Exception, match="No instance with ID nobody found."):
            await client.raise_event("nobody", "Approved", True)
        instance_id = await client.start_new("approval")
        await driver.run_until_idle(fire_timers=False)
        # The Python client double-encodes event data: the orchestrator gets JSON text.
        await client.raise_event(instance_id, "Approved", {"by": "ana"})
        await driver.run_until_idle()
        done = await client.get_status(instance_id, show_history=True)
        assert done.output["approved"] == '{"by": "ana"}'
        assert [e["EventType"] for e in done.historyEvents][:2] == ["ExecutionStarted",
                                                                    "TimerCreated"]
        with pytest.raises(Exception, match="is gone: either completed or failed"):
            await client.raise_event(instance_id, "Approved", True)
        await client.terminate(instance_id, "too late")  # the SDK accepts a 410 silently
        assert (await client.get_status(instance_id)).runtime_status is \
            df.OrchestrationRuntimeStatus.Completed
        stopping = await client.start_new("approval")
        await driver.run_until_idle(fire_timers=False)
        with pytest.raises(Exception, match="unexpected status code 412"):
            await client.purge_instance_history(stopping)  # only finished ones can go
        await client.terminate(stopping, "operator stop")
        assert (await client.get_status(stopping)).runtime_status is \
            df.OrchestrationRuntimeStatus.Running  # termination lands at the next episode
        await driver.run_until_idle()
        stopped = await client.get_status(stopping)
        assert (stopped.runtime_status, stopped.output) == \
            (df.OrchestrationRuntimeStatus.Terminated, "operator stop")
        listed = await client.get_status_by(
            runtime_status=[df.OrchestrationRuntimeStatus.Terminated])
        assert [s.instance_id for s in listed] == [stopping]
        assert len(await client.get_status_all()) == 2
        assert (await client.purge_instance_history(stopping)).instances_deleted == 1
        assert not await client.get_status(stopping)
        assert (await client.purge_instance_history(stopping)).instances_deleted == 0
    asyncio.run(scenario())


def test_driver_refuses_duplicate_active_ids(driver):
    driver.start_new("staged", instance_id="only-one")
    with pytest.raises(InstanceAlreadyExists):
        driver.start_new("staged", instance_id="only-one")
    driver.drain()
    assert driver.get_status("only-one").runtime_status is df.OrchestrationRuntimeStatus.Running
    assert driver.instance("only-one").status is Status.Running
