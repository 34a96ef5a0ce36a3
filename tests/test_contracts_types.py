"""Core value types: UniqueParameterSet, TrialResult, TrialStatus, SeedInfo."""

import dataclasses
import math

import pytest

from modelops_contracts import (
    MAX_DIAG_BYTES,
    ContractViolationError,
    SeedInfo,
    TrialResult,
    TrialStatus,
    UniqueParameterSet,
    make_param_id,
)


def test_trial_status_values_are_the_protocol_strings():
    assert {s.name: s.value for s in TrialStatus} == {
        "COMPLETED": "completed",
        "FAILED": "failed",
        "TIMEOUT": "timeout",
    }


class TestUniqueParameterSet:
    def test_from_dict_computes_the_param_id(self):
        ups = UniqueParameterSet.from_dict({"beta": 0.3, "n": 5, "on": True, "tag": "x"})
        assert ups.param_id == make_param_id({"beta": 0.3, "n": 5, "on": True, "tag": "x"})
        assert dict(ups.params) == {"beta": 0.3, "n": 5, "on": True, "tag": "x"}

    def test_is_frozen_and_params_are_read_only_and_detached(self):
        source = {"a": 1}
        ups = UniqueParameterSet.from_dict(source)
        source["a"] = 2
        assert ups.params["a"] == 1
        with pytest.raises(TypeError):
            ups.params["a"] = 3  # type: ignore[index]
        with pytest.raises(dataclasses.FrozenInstanceError):
            ups.param_id = "other"  # type: ignore[misc]

    def test_equal_sets_compare_equal_and_deduplicate_in_a_set(self):
        first = UniqueParameterSet.from_dict({"a": 1, "b": 2})
        second = UniqueParameterSet.from_dict({"b": 2, "a": 1})
        assert first == second
        assert len({first, second, UniqueParameterSet.from_dict({"a": 2})}) == 2

    @pytest.mark.parametrize("bad", [None, [1], {"x": 1}, (1,)])
    def test_non_scalar_values_are_rejected(self, bad):
        with pytest.raises(ContractViolationError, match="param 'x' must be a scalar"):
            UniqueParameterSet(params={"x": bad}, param_id="id")

    @pytest.mark.parametrize("bad", [math.nan, math.inf])
    def test_non_finite_values_are_rejected(self, bad):
        with pytest.raises(ContractViolationError, match="param 'x' must be finite"):
            UniqueParameterSet(params={"x": bad}, param_id="id")

    @pytest.mark.parametrize("bad", ["", None, 7])
    def test_param_id_must_be_a_non_empty_string(self, bad):
        with pytest.raises(ContractViolationError, match="param_id must be a non-empty string"):
            UniqueParameterSet(params={"x": 1}, param_id=bad)

    def test_params_must_be_a_mapping_with_string_keys(self):
        with pytest.raises(ContractViolationError, match="params must be a mapping"):
            UniqueParameterSet(params=[("x", 1)], param_id="id")
        with pytest.raises(ContractViolationError, match="params keys must be strings"):
            UniqueParameterSet(params={1: 1}, param_id="id")


class TestTrialResult:
    def test_defaults_are_completed_and_empty_read_only_diagnostics(self):
        result = TrialResult(param_id="p", loss=1)
        assert result.status is TrialStatus.COMPLETED
        assert dict(result.diagnostics) == {}
        assert isinstance(result.loss, float) and result.loss == 1.0
        with pytest.raises(TypeError):
            result.diagnostics["k"] = 1  # type: ignore[index]

    @pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
    def test_completed_requires_a_finite_loss(self, bad):
        with pytest.raises(ContractViolationError, match="loss must be finite when status is COMPLETED"):
            TrialResult(param_id="p", loss=bad)

    @pytest.mark.parametrize("status", [TrialStatus.FAILED, TrialStatus.TIMEOUT])
    def test_failed_and_timeout_may_carry_nan(self, status):
        assert math.isnan(TrialResult(param_id="p", loss=math.nan, status=status).loss)

    def test_identical_failed_results_compare_equal_despite_nan(self):
        first = TrialResult(param_id="p", loss=float("nan"), status=TrialStatus.FAILED)
        second = TrialResult(param_id="p", loss=float("nan"), status=TrialStatus.FAILED)
        assert first == second

    @pytest.mark.parametrize("bad", ["1.0", None, True])
    def test_loss_must_be_a_number(self, bad):
        with pytest.raises(ContractViolationError, match="loss must be a number"):
            TrialResult(param_id="p", loss=bad)

    def test_status_must_be_a_trial_status(self):
        with pytest.raises(ContractViolationError, match="status must be a TrialStatus"):
            TrialResult(param_id="p", loss=1.0, status="completed")

    def test_param_id_must_be_non_empty(self):
        with pytest.raises(ContractViolationError, match="param_id must be a non-empty string"):
            TrialResult(param_id="", loss=1.0)

    def test_diagnostics_must_be_json_serialisable(self):
        with pytest.raises(ContractViolationError, match="diagnostics must be JSON-serialisable"):
            TrialResult(param_id="p", loss=1.0, diagnostics={"x": object()})
        with pytest.raises(ContractViolationError, match="diagnostics must be JSON-serialisable"):
            TrialResult(param_id="p", loss=1.0, diagnostics={"x": math.nan})

    def test_diagnostics_size_limit_is_inclusive_and_counts_utf8_bytes(self):
        overhead = len('{"k":""}')
        at_limit = {"k": "a" * (MAX_DIAG_BYTES - overhead)}
        assert TrialResult(param_id="p", loss=1.0, diagnostics=at_limit).diagnostics == at_limit
        with pytest.raises(ContractViolationError, match="at most 65536 bytes"):
            TrialResult(param_id="p", loss=1.0, diagnostics={"k": "a" * (MAX_DIAG_BYTES - overhead + 1)})
        two_byte_chars = {"k": "é" * ((MAX_DIAG_BYTES - overhead) // 2 + 1)}
        with pytest.raises(ContractViolationError, match="at most 65536 bytes"):
            TrialResult(param_id="p", loss=1.0, diagnostics=two_byte_chars)

    def test_diagnostics_must_be_a_mapping(self):
        with pytest.raises(ContractViolationError, match="diagnostics must be a mapping"):
            TrialResult(param_id="p", loss=1.0, diagnostics=[1, 2])


class TestSeedInfo:
    def test_accepts_the_full_uint64_range_and_stores_a_tuple(self):
        info = SeedInfo(base_seed=0, trial_seed=2**64 - 1, replicate_seeds=[1, 2])
        assert info.replicate_seeds == (1, 2)

    @pytest.mark.parametrize("bad", [-1, 2**64])
    def test_out_of_range_seeds_are_rejected(self, bad):
        with pytest.raises(ContractViolationError, match="base_seed must be a uint64"):
            SeedInfo(base_seed=bad, trial_seed=0, replicate_seeds=())
        with pytest.raises(ContractViolationError, match=r"replicate_seeds\[1\] must be a uint64"):
            SeedInfo(base_seed=0, trial_seed=0, replicate_seeds=(0, bad))

    @pytest.mark.parametrize("bad", [1.0, True, "1"])
    def test_non_int_seeds_are_rejected(self, bad):
        with pytest.raises(ContractViolationError, match="trial_seed must be an int"):
            SeedInfo(base_seed=0, trial_seed=bad, replicate_seeds=())

    def test_replicate_seeds_must_be_a_sequence_of_ints(self):
        with pytest.raises(ContractViolationError, match="replicate_seeds must be a tuple of ints"):
            SeedInfo(base_seed=0, trial_seed=0, replicate_seeds=5)
