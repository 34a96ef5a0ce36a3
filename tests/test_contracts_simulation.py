"""SimTask, make_task_id and the SimulationService protocol."""

import hashlib
import pickle
from concurrent.futures import Future

import pytest

from modelops_contracts import (
    ContractViolationError,
    ErrorInfo,
    SimReturn,
    SimTask,
    SimulationService,
    TableArtifact,
    TrialResult,
    UniqueParameterSet,
    make_task_id,
)

PARAMS = UniqueParameterSet.from_dict({"beta": 0.3, "gamma": 0.1})


def task(**overrides) -> SimTask:
    fields = dict(bundle_ref="sha256:abc", entrypoint="pkg.mod:run", params=PARAMS, seed=42)
    return SimTask(**{**fields, **overrides})


class TestMakeTaskId:
    def test_matches_hashes_computed_outside_the_library(self):
        # From coreutils `b2sum -l 128` over the same text.
        assert make_task_id("sha256:abc", "pkg.mod:run", "pid", 42) == "fe5710cb9707f06e07ae43af698c095f"
        text = "sim:v1|sha256:abc|pkg.mod.SIR/baseline|pid|0"
        assert make_task_id("sha256:abc", "pkg.mod.SIR/baseline", "pid", 0) == (
            hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        )

    def test_every_part_changes_the_id_including_the_entrypoint(self):
        base = ("b", "pkg.mod:run", "pid", 1)
        variants = [
            ("b2", "pkg.mod:run", "pid", 1),
            ("b", "pkg.mod:other", "pid", 1),
            ("b", "pkg.mod:run", "pid2", 1),
            ("b", "pkg.mod:run", "pid", 2),
        ]
        ids = {make_task_id(*base)} | {make_task_id(*v) for v in variants}
        assert len(ids) == 5

    @pytest.mark.parametrize(
        ("args", "fragment"),
        [
            (("", "m:f", "p", 1), "bundle_ref must be a non-empty string"),
            (("a|b", "m:f", "p", 1), "bundle_ref must not contain '|'"),
            (("b", "m:f", "p|q", 1), "param_id must not contain '|'"),
            (("b", "m:f", "", 1), "param_id must be a non-empty string"),
            (("b", "m/f:g", "p", 1), "invalid entrypoint 'm/f:g'"),
            (("b", "m:f", "p", -1), "seed must be a uint64"),
            (("b", "m:f", "p", 2**64), "seed must be a uint64"),
            (("b", "m:f", "p", 1.0), "seed must be an int"),
        ],
    )
    def test_invalid_parts_are_contract_violations(self, args, fragment):
        with pytest.raises(ContractViolationError, match=fragment.replace("|", r"\|")):
            make_task_id(*args)


class TestSimTask:
    def test_task_id_uses_bundle_entrypoint_param_id_and_seed(self):
        assert task().task_id == make_task_id("sha256:abc", "pkg.mod:run", PARAMS.param_id, 42)
        assert task(entrypoint="pkg.mod.SIR/baseline").task_id != task().task_id

    def test_outputs_config_and_env_are_normalised_and_read_only(self):
        config = {"days": 100}
        built = task(outputs=["incidence", "prevalence"], config=config, env={"THREADS": "1"})
        config["days"] = 1
        assert built.outputs == ("incidence", "prevalence")
        assert built.config["days"] == 100 and built.env["THREADS"] == "1"
        with pytest.raises(TypeError):
            built.config["days"] = 5  # type: ignore[index]
        assert task().outputs is None and task().config is None and task().env is None

    def test_seed_accepts_the_full_uint64_range(self):
        assert task(seed=0).seed == 0 and task(seed=2**64 - 1).seed == 2**64 - 1

    @pytest.mark.parametrize(
        ("overrides", "fragment"),
        [
            ({"bundle_ref": ""}, "bundle_ref must be a non-empty string"),
            ({"entrypoint": "pkg.mod"}, "invalid entrypoint 'pkg.mod'"),
            ({"entrypoint": "pkg.mod:Class/base"}, "contains both '/' and ':'"),
            ({"params": {"beta": 0.3}}, "params must be a UniqueParameterSet"),
            ({"seed": -1}, "seed must be a uint64"),
            ({"seed": True}, "seed must be an int"),
            ({"outputs": "incidence"}, "outputs must be a tuple of names"),
            ({"outputs": ("a", "a")}, "outputs must not repeat a name"),
            ({"outputs": ("",)}, "output name must be a non-empty string"),
            ({"config": [("a", 1)]}, "config must be a mapping"),
            ({"env": {1: "x"}}, "env keys must be strings"),
        ],
    )
    def test_invalid_fields_are_contract_violations(self, overrides, fragment):
        with pytest.raises(ContractViolationError, match=fragment):
            task(**overrides)


class InProcessService:
    """Smallest conforming service: runs each task immediately."""

    def submit(self, task: SimTask) -> Future:
        future: Future = Future()
        future.set_result(SimReturn(task_id=task.task_id, outputs={"o": TableArtifact.from_bytes(b"x")}))
        return future

    def gather(self, futures):
        return [f.result() for f in futures]

    def submit_batch(self, tasks):
        return [self.submit(t) for t in tasks]


def test_simulation_service_is_a_runtime_checkable_protocol():
    service = InProcessService()
    assert isinstance(service, SimulationService)
    tasks = [task(seed=s) for s in (3, 1, 2)]
    results = service.gather(service.submit_batch(tasks))
    assert [r.task_id for r in results] == [t.task_id for t in tasks]


def test_an_object_missing_a_method_is_not_a_simulation_service():
    class NoBatch:
        def submit(self, task): ...
        def gather(self, futures): ...

    assert not isinstance(NoBatch(), SimulationService)


def test_tasks_pickle_with_plain_pickle_and_stay_read_only():
    """What the runner sends its workers pickles without a fallback pickler, and loads as it was."""
    pset = UniqueParameterSet.from_dict({"x": 1.5, "name": "a"})
    task = SimTask("installed", "pkg.mod:fn", pset, 7, outputs=("curve",), config={"k": 1}, env={"A": "b"})
    result = TrialResult(param_id=pset.param_id, loss=0.5, diagnostics={"nested": {"n": 1}})
    returned = SimReturn(task_id=task.task_id, outputs={}, error=ErrorInfo("RuntimeError", "x"), metrics={"seconds": 0.1})
    loaded_task, loaded_result, loaded_return = pickle.loads(pickle.dumps((task, result, returned)))
    assert loaded_task == task and loaded_task.task_id == task.task_id
    assert loaded_result == result and loaded_return == returned
    for mapping in (loaded_task.params.params, loaded_task.config, loaded_task.env, loaded_result.diagnostics,
                    loaded_return.outputs, loaded_return.metrics):  # fmt: skip
        with pytest.raises(TypeError):
            mapping["new"] = 1  # still the read-only view
