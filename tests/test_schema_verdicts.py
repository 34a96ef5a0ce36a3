"""The JSON Schema and `mops validate` agree on every document of a corpus.

The corpus is the bundled examples, the README's illustration, and broken
variants of them. The only documents allowed to get different verdicts break a
rule the schema cannot state (`TOOL_ONLY_RULES`), and each of those rules has a
document here that proves the tool checks it.
"""

import copy
import functools
from pathlib import Path

import jsonschema
import pytest
import yaml

from modelops.spec import SpecError, json_schema, parse_spec
from modelops.spec.schema_rules import SCHEMA_DIALECT, TOOL_ONLY_RULES

ROOT = Path(__file__).resolve().parents[1]


def _readme_document() -> dict:
    readme = (ROOT / "README.md").read_text()
    return yaml.safe_load(readme.split("```yaml\n", 1)[1].split("```", 1)[0])


BASES = {
    "sir": yaml.safe_load((ROOT / "examples/sir/run.yaml").read_text()),
    "toy": yaml.safe_load((ROOT / "examples/toy/run.yaml").read_text()),
    "readme": _readme_document(),
}


def _set(base: str, path: str, value) -> dict:
    """A copy of a base document with `path` (dotted) set to `value`, or removed when value is DROP."""
    doc = copy.deepcopy(BASES[base])
    *parents, leaf = path.split(".")
    node = doc
    for part in parents:
        node = node.setdefault(part, {})
    if value is DROP:
        del node[leaf]
    else:
        node[leaf] = value
    return doc


DROP = object()

# (name, document, rule only the tool checks or None)
CORPUS = [
    *((f"{name} as bundled", doc, None) for name, doc in BASES.items()),
    ("replicates as a string", _set("sir", "replicates", "8"), None),
    ("replicates as a boolean", _set("sir", "replicates", True), None),
    ("replicates zero", _set("sir", "replicates", 0), None),
    ("replicates above the limit", _set("sir", "replicates", 10_001), None),
    ("trials as a string", _set("sir", "budget.trials", "300"), None),
    ("trials above the limit", _set("sir", "budget.trials", 2_000_000), None),
    ("seed negative", _set("sir", "seed", -1), None),
    ("seed as a string", _set("sir", "seed", "7"), None),
    ("log as 'yes'", _set("readme", "parameters.gamma.log", "yes"), None),
    ("weight as a string", _set("readme", "targets.incidence.weight", "2"), None),
    ("weight zero", _set("readme", "targets.incidence.weight", 0), None),
    ("weight as an integer", _set("readme", "targets.incidence.weight", 2), None),
    ("low as a string", _set("sir", "parameters.R0.low", "1.0"), None),
    ("name with capitals", _set("sir", "name", "SIR"), None),
    ("name too long", _set("sir", "name", "s" * 41), None),
    ("name ending in a dash", _set("sir", "name", "sir-"), None),
    ("name empty", _set("sir", "name", ""), None),
    ("entrypoint without a colon", _set("sir", "model.entrypoint", "examples.sir.model.simulate"), None),
    ("entrypoint with both forms", _set("sir", "model.entrypoint", "examples.sir:Model/base"), None),
    ("entrypoint as a class scenario", _set("sir", "model.entrypoint", "examples.sir.Model/base-case"), None),
    ("entrypoint scenario with capitals", _set("sir", "model.entrypoint", "examples.sir.Model/Base"), None),
    ("entrypoint with a keyword", _set("sir", "model.entrypoint", "examples.class:simulate"), "entrypoints and losses: no Python keyword as a name part"),
    ("timeout as a fraction", _set("sir", "model.timeout_seconds", 0.5), None),
    ("timeout zero", _set("sir", "model.timeout_seconds", 0), None),
    ("timeout as a string", _set("sir", "model.timeout_seconds", "600"), None),
    ("unknown loss", _set("sir", "targets.incidence.loss", "likelihood"), None),
    ("custom loss", _set("sir", "targets.incidence.loss", "tests.models:zero_loss"), None),
    ("loss as a class scenario", _set("sir", "targets.incidence.loss", "pkg.Loss/base"), None),
    ("unknown algorithm", _set("sir", "algorithm", {"name": "hyperopt"}), None),
    ("unknown sampler", _set("sir", "algorithm", {"sampler": "grid"}), None),
    ("tpe option misspelt", _set("sir", "algorithm", {"options": {"n_startup": 5}}), None),
    ("tpe option as a string", _set("sir", "algorithm", {"options": {"n_startup_trials": "5"}}), None),
    ("tpe group without multivariate", _set("sir", "algorithm", {"options": {"group": True, "multivariate": False}}), None),
    ("cmaes options", _set("sir", "algorithm", {"sampler": "cmaes", "options": {"popsize": 6, "restart_strategy": "ipop"}}), None),
    ("cmaes option of tpe", _set("sir", "algorithm", {"sampler": "cmaes", "options": {"n_ei_candidates": 6}}), None),
    ("qmc type unknown", _set("sir", "algorithm", {"sampler": "qmc", "options": {"qmc_type": "lattice"}}), None),
    ("random with options", _set("sir", "algorithm", {"sampler": "random", "options": {"seed": 1}}), None),
    ("custom factory options", _set("toy", "algorithm.options", {"anything": [1, "two"]}), None),
    ("parameter name not an identifier", _set("sir", "parameters", {"R-0": {"low": 1.0, "high": 5.0}}), None),
    ("parameter without high", _set("sir", "parameters.R0", {"low": 1.0}), None),
    ("parameter with reversed bounds", _set("sir", "parameters.R0", {"low": 5.0, "high": 1.0}), "parameters.<name>.low < high"),
    ("parameter with an infinite bound", _set("sir", "parameters.R0", {"low": 1.0, "high": float("inf")}), "parameters.<name>.low and high finite"),
    ("log scale from zero", _set("sir", "parameters.R0", {"low": 0.0, "high": 5.0, "log": True}), None),
    ("step on a float", _set("sir", "parameters.R0", {"low": 1.0, "high": 5.0, "step": 1}), None),
    ("step zero", _set("readme", "parameters.days.step", 0), None),
    ("int with fractional bounds", _set("readme", "parameters.days", {"type": "int", "low": 0.5, "high": 3}), None),
    ("int with log and a step", _set("readme", "parameters.days", {"type": "int", "low": 10, "high": 90, "step": 10, "log": True}), None),
    ("int with log and step 1", _set("readme", "parameters.days", {"type": "int", "low": 10, "high": 90, "step": 1, "log": True}), None),
    ("categorical without choices", _set("readme", "parameters.model", {"type": "categorical"}), None),
    ("categorical with bounds", _set("readme", "parameters.model", {"choices": ["sir"], "low": 1}), None),
    ("categorical on a log scale", _set("readme", "parameters.model", {"choices": ["sir"], "log": True}), None),
    ("choices repeated", _set("readme", "parameters.model", {"choices": ["sir", "sir"]}), None),
    ("choices empty", _set("readme", "parameters.model", {"choices": []}), None),
    ("float with choices", _set("readme", "parameters.model", {"type": "float", "choices": [1.0]}), None),
    ("keys empty", _set("sir", "targets.incidence.keys", []), None),
    ("keys repeated", _set("sir", "targets.incidence.keys", ["day", "day"]), None),
    ("value among the keys", _set("sir", "targets.incidence.value", "day"), "targets.<name>.value not in keys"),
    ("target field misspelt", _set("sir", "targets.incidence.wieght", 1.0), None),
    ("no targets", _set("sir", "targets", {}), None),
    ("two runners without a central store", _set("sir", "compute", {"runners": 2}), None),
    ("two runners with a central store", _set("readme", "compute.runners", 2), None),
    ("central store null with two runners", _set("readme", "central_store", None) | {"compute": {"runners": 2}}, None),
    ("central store size unparsable", _set("readme", "central_store.size", "lots"), None),
    ("replicates_per_task zero", _set("sir", "compute", {"replicates_per_task": 0}), None),
    ("replicates_per_task 'many'", _set("sir", "compute", {"replicates_per_task": "many"}), None),
    ("replicates_per_task 4", _set("sir", "compute", {"replicates_per_task": 4}), None),
    ("workers as a boolean", _set("sir", "compute", {"workers": True}), None),
    ("apiVersion v2", _set("sir", "apiVersion", "modelops/v2"), None),
    ("kind unknown", _set("sir", "kind", "Experiment"), None),
    ("unknown top-level field", _set("sir", "replicate", 3), None),
    ("budget missing", _set("sir", "budget", DROP), None),
    ("target_loss as a string", _set("sir", "budget.target_loss", "0.5"), None),
]


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json_schema())


def schema_says(doc) -> bool:
    return _validator().is_valid(doc)


def tool_says(doc) -> bool:
    try:
        parse_spec(doc)
    except SpecError:
        return False
    return True


def test_the_schema_is_a_valid_2020_12_schema_with_an_id():
    schema = json_schema()
    assert schema["$schema"] == SCHEMA_DIALECT and schema["$id"].startswith("urn:modelops:")
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name, doc, tool_only", CORPUS, ids=[case[0] for case in CORPUS])
def test_schema_and_tool_give_the_same_verdict(name, doc, tool_only):
    if tool_only is None:
        assert schema_says(doc) == tool_says(doc)
    else:  # a rule JSON Schema cannot state: the schema lets it through, the tool does not
        assert (schema_says(doc), tool_says(doc)) == (True, False)


def test_the_corpus_covers_both_verdicts_and_every_tool_only_rule():
    verdicts = [tool_says(doc) for _, doc, _ in CORPUS]
    assert len(CORPUS) >= 60 and sum(verdicts) >= 10 and verdicts.count(False) >= 40
    assert {rule for *_, rule in CORPUS if rule} == set(TOOL_ONLY_RULES)
