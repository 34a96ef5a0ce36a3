"""The local and Dask SimulationServices run SimTasks and hand back contract SimReturns."""

import pytest

from modelops.ipc import from_ipc
from modelops.seeds import replicate_seed
from modelops.services.dask import DaskSimulationService
from modelops.services.local import LocalSimulationService
from modelops_contracts import SimTask, SimulationService, UniqueParameterSet


def task(entrypoint="examples.toy.model:simulate", x=2.0, replicate=0):
    pset = UniqueParameterSet.from_dict({"x": x, "n": 5})
    return SimTask("installed", entrypoint, pset, replicate_seed(pset.param_id, replicate))


@pytest.fixture(params=["local", "dask"])
def service(request, dask_client):
    return LocalSimulationService() if request.param == "local" else DaskSimulationService(dask_client)


def test_services_follow_the_protocol_and_return_arrow_outputs(service):
    assert isinstance(service, SimulationService)
    tasks = [task(replicate=i) for i in range(3)]
    results = service.gather(service.submit_batch(tasks))
    assert [r.task_id for r in results] == [t.task_id for t in tasks]  # in order
    for result in results:
        assert result.error is None and set(result.outputs) == {"output"}
        frame = from_ipc({k: a.inline for k, a in result.outputs.items()})["output"]
        assert frame.columns == ["iteration", "value"] and frame.height == 5
    values = [from_ipc({"o": r.outputs["output"].inline})["o"]["value"].to_list() for r in results]
    assert len({tuple(v) for v in values}) == 3  # each replicate its own seed


def test_a_failing_simulation_comes_back_as_an_error_not_an_exception(service):
    [result] = service.gather([service.submit(task("tests.models:always_fails"))])
    assert result.outputs == {} and result.error.error_type == "ModuleNotFoundError"
    assert "not_a_real_dependency" in result.error.message


def test_the_same_task_gives_the_same_outputs(service):
    first, second = service.gather([service.submit(task()), service.submit(task())])
    assert first.outputs["output"].checksum == second.outputs["output"].checksum
