"""param_id: canonical JSON under a versioned prefix, hashed with BLAKE2b-256."""

import hashlib
import math
from types import MappingProxyType

import pytest

from modelops_contracts import ContractViolationError, make_param_id
from modelops_contracts.param_id import canonical_text


def blake256(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=32).hexdigest()


def test_known_ids_match_hashes_computed_outside_the_library():
    # Hex values from coreutils `b2sum -l 256` over the hand-written canonical text.
    assert make_param_id({"b": 2.5, "a": 1}) == (
        "c6332e8a82103a5794710d0c872757094245e532b15f704c6800cb2bfc4eda75"
    )
    params = {"nested": {"y": True, "x": (1, 2)}, "name": "Zürich", "beta": 0.1}
    text = 'contracts:param:v1|{"beta":0.1,"name":"Zürich","nested":{"x":[1,2],"y":true}}'
    assert make_param_id(params) == blake256(text)
    assert make_param_id(params) == (
        "3f70ddff67357aab9a5b9540602e7ee3f0d3f201b0df3310043b31832a4a4fd3"
    )


def test_canonical_text_is_prefixed_compact_sorted_and_not_ascii_escaped():
    text = canonical_text({"z": "é", "a": [1, {"d": 1, "c": 2}]})
    assert text == 'contracts:param:v1|{"a":[1,{"c":2,"d":1}],"z":"é"}'


def test_key_order_does_not_matter_at_any_depth():
    first = {"a": 1, "b": {"x": 1, "y": 2}}
    second = {"b": {"y": 2, "x": 1}, "a": 1}
    assert make_param_id(first) == make_param_id(second)


def test_one_one_point_zero_and_true_give_different_ids():
    ids = {make_param_id({"k": 1}), make_param_id({"k": 1.0}), make_param_id({"k": True})}
    assert len(ids) == 3
    assert make_param_id({"k": 1.0}) == blake256('contracts:param:v1|{"k":1.0}')
    assert make_param_id({"k": True}) == blake256('contracts:param:v1|{"k":true}')


def test_tuples_hash_like_lists_and_read_only_mappings_like_dicts():
    assert make_param_id({"v": (1, 2)}) == make_param_id({"v": [1, 2]})
    assert make_param_id(MappingProxyType({"a": 1})) == make_param_id({"a": 1})


def test_id_is_64_lowercase_hex():
    param_id = make_param_id({})
    assert len(param_id) == 64 and int(param_id, 16) >= 0 and param_id == param_id.lower()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_rejected_even_when_nested(bad):
    with pytest.raises(ContractViolationError, match="finite"):
        make_param_id({"x": bad})
    with pytest.raises(ContractViolationError, match="finite"):
        make_param_id({"outer": {"inner": [1, bad]}})


@pytest.mark.parametrize("bad", [{1, 2}, b"raw", object(), 1j])
def test_unsupported_value_types_are_rejected(bad):
    with pytest.raises(ContractViolationError, match="unsupported param value type"):
        make_param_id({"x": bad})


def test_non_string_keys_are_rejected():
    # json.dumps would turn 1 into "1" and silently collide with the string key.
    with pytest.raises(ContractViolationError, match="keys must be strings"):
        make_param_id({1: "a"})


def test_non_mapping_params_are_rejected():
    with pytest.raises(ContractViolationError, match="params must be a mapping"):
        make_param_id([("a", 1)])
