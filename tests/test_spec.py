import json

import pytest

from modelops.spec import RunSpec, SpecError, json_schema, parse_spec, parse_text, spec_digest, with_overrides
from tests.documents import quadratic_doc


def errors_of(doc) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(doc)
    return {e.field: e.msg for e in info.value.errors}


def test_a_valid_document_parses_with_defaults():
    spec = parse_spec(quadratic_doc())
    assert spec.algorithm.name == "optuna" and spec.algorithm.sampler == "tpe"
    assert spec.parameters["x"].type == "float"
    assert spec.targets["curve"].weight == 1.0
    assert spec.compute.replicates_per_task == "auto"
    assert spec.target_output("curve") == "curve"


def test_yaml_and_json_give_the_same_spec():
    doc = quadratic_doc()
    assert parse_text(json.dumps(doc)) == parse_spec(doc)


def drop(doc, *path):
    node = doc
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return doc


BAD = {
    "missing model": (drop(quadratic_doc(), "model"), "model", "Field required"),
    "missing budget trials": (drop(quadratic_doc(), "budget", "trials"), "budget.trials", "Field required"),
    "mistyped field": (quadratic_doc(replicate=3), "replicate", "unknown field"),
    "mistyped nested field": (
        quadratic_doc(parameters={"x": {"low": 0, "hihg": 1}}),
        "parameters.x.hihg",
        "unknown field",
    ),
    "wrong type": (quadratic_doc(replicates="many"), "replicates", "valid integer"),
    "empty parameter space": (quadratic_doc(parameters={}), "parameters", "at least 1 item"),
    "reversed bounds": (quadratic_doc(parameters={"x": {"low": 5, "high": 1}}), "parameters.x", "must be below 'high'"),
    "log with low 0": (quadratic_doc(parameters={"x": {"low": 0, "high": 1, "log": True}}), "parameters.x", "low' > 0"),
    "int with fractional bounds": (
        quadratic_doc(parameters={"n": {"type": "int", "low": 0.5, "high": 3}}),
        "parameters.n",
        "whole-number",
    ),
    "categorical with bounds": (
        quadratic_doc(parameters={"c": {"choices": ["a"], "low": 1}}),
        "parameters.c",
        "only 'choices'",
    ),
    "repeated choices": (quadratic_doc(parameters={"c": {"choices": ["a", "a"]}}), "parameters.c", "repeat"),
    "bad parameter name": (quadratic_doc(parameters={"a b": {"low": 0, "high": 1}}), "parameters", "identifiers"),
    "unknown algorithm": (quadratic_doc(algorithm={"name": "hyperband"}), "algorithm.name", "unknown algorithm"),
    "unknown sampler": (quadratic_doc(algorithm={"sampler": "grid"}), "algorithm.sampler", "'tpe'"),
    "replicates below one": (quadratic_doc(replicates=0), "replicates", "greater than or equal to 1"),
    "budget below one": (quadratic_doc(budget={"trials": 0}), "budget.trials", "greater than or equal to 1"),
    "bad entrypoint": (quadratic_doc(model={"entrypoint": "tests/models:x"}), "model.entrypoint", "invalid entrypoint"),
    "unknown loss": (
        quadratic_doc(targets={"c": {"data": "c.csv", "keys": ["t"], "value": "v", "loss": "huber"}}),
        "targets.c.loss",
        "unknown loss",
    ),
    "no targets": (quadratic_doc(targets={}), "targets", "at least 1 item"),
    "value also a key": (
        quadratic_doc(targets={"c": {"data": "c.csv", "keys": ["t"], "value": "t"}}),
        "targets.c",
        "also in 'keys'",
    ),
    "zero weight": (
        quadratic_doc(targets={"c": {"data": "c.csv", "keys": ["t"], "value": "v", "weight": 0}}),
        "targets.c.weight",
        "greater than 0",
    ),
    "bad name": (quadratic_doc(name="My Run"), "name", "not a valid name"),
    "negative seed": (quadratic_doc(seed=-1), "seed", "greater than or equal to 0"),
    "wrong apiVersion": (quadratic_doc(apiVersion="v2"), "apiVersion", "modelops/v1"),
}


@pytest.mark.parametrize("doc, field, fragment", BAD.values(), ids=BAD.keys())
def test_bad_documents_are_rejected_naming_the_field(doc, field, fragment):
    errors = errors_of(doc)
    assert field in errors, errors
    assert fragment in errors[field]


def test_every_error_is_reported_at_once():
    errors = errors_of(quadratic_doc(replicates=0, parameters={}, algorithm={"name": "nope"}))
    assert {"replicates", "parameters", "algorithm.name"} <= set(errors)


def test_top_level_must_be_a_mapping_and_text_must_parse():
    assert "(document)" in errors_of(["not", "a", "mapping"])
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_text("model: [unclosed")


def test_overrides_are_validated_again():
    spec = parse_spec(quadratic_doc())
    assert with_overrides(spec, **{"budget.trials": 3, "compute.workers": None}).budget.trials == 3
    with pytest.raises(SpecError, match="budget.trials"):
        with_overrides(spec, **{"budget.trials": 0})


def test_digest_is_stable_and_follows_the_content():
    a, b = parse_spec(quadratic_doc()), parse_spec(quadratic_doc())
    assert spec_digest(a) == spec_digest(b)
    assert spec_digest(a) != spec_digest(with_overrides(a, seed=2))


def test_json_schema_describes_the_document_by_alias():
    schema = json_schema()
    assert {"apiVersion", "model", "parameters", "targets", "budget", "replicates"} <= set(schema["properties"])
    assert set(schema["required"]) == {"name", "model", "parameters", "targets", "budget"}
    assert schema["$defs"]["Parameter"]["additionalProperties"] is False
    assert RunSpec.model_json_schema(by_alias=True) == schema
    assert schema["$schema"].endswith("2020-12/schema") and "$id" in schema


def test_several_runners_need_a_central_store():
    errors = errors_of(quadratic_doc(compute={"runners": 2}))
    assert "required when compute.runners > 1" in errors["central_store"]
    spec = parse_spec(quadratic_doc(compute={"runners": 3}, central_store={"size": "20Gi"}))
    assert spec.central_store.size == "20Gi" and spec.central_store.version == "15"
    assert "central_store.size" in errors_of(quadratic_doc(central_store={"size": "lots"}))


def test_the_readme_illustration_is_a_valid_document():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = parse_text(block)
    assert {p.type for p in spec.parameters.values()} == {"float", "int", "categorical"}
    assert spec.central_store is not None and spec.targets["incidence"].loss == "poisson"
