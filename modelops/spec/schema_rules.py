"""What the JSON Schema says beyond field types: patterns, enums and `if`/`then` rules.

The models attach these fragments (`json_schema_extra`), so the schema states
the same rules the models enforce wherever JSON Schema can express them. The
few it cannot (they compare two fields' values) are listed in `TOOL_ONLY_RULES`
and checked by `mops validate` alone.
"""

from __future__ import annotations

from typing import Any

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:modelops:schema:run-document:v1"

NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_MODULE = rf"{_IDENT}(?:\.{_IDENT})*"
_SCENARIO = r"[a-z0-9](?:[a-z0-9_.-]{0,62}[a-z0-9])?"
CALLABLE_PATTERN = rf"^{_MODULE}:{_IDENT}$"
ENTRYPOINT_PATTERN = rf"^(?:{_MODULE}:{_IDENT}|{_MODULE}\.{_IDENT}/{_SCENARIO})$"

TOOL_ONLY_RULES = {
    "parameters.<name>.low < high": "compares two fields",
    "parameters.<name>.low and high finite": "JSON has no infinity, YAML does (.inf)",
    "targets.<name>.value not in keys": "compares two fields",
    "entrypoints and losses: no Python keyword as a name part": "the grammar's keyword list",
}


def _present(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": [name], "properties": {name: schema}}


def name_or_callable(names: list[str]) -> dict[str, Any]:
    """A built-in name, or a 'pkg.module:function' reference."""
    return {"anyOf": [{"enum": names}, {"type": "string", "pattern": CALLABLE_PATTERN}]}


PARAMETER_RULES: dict[str, Any] = {
    "allOf": [
        {
            "if": {"required": ["choices"]},
            "then": {
                "properties": {"type": {"const": "categorical"}, "log": {"const": False}},
                "not": {"anyOf": [_present(f, {"type": "number"}) for f in ("low", "high", "step")]},
            },
            "else": {
                "required": ["low", "high"],
                "properties": {
                    "type": {"enum": ["float", "int"]},
                    "low": {"type": "number"},
                    "high": {"type": "number"},
                },
            },
        },
        {"if": _present("type", {"const": "categorical"}), "then": _present("choices", {"type": "array"})},
        {"if": _present("log", {"const": True}), "then": {"properties": {"low": {"exclusiveMinimum": 0}}}},
        {"if": _present("step", {"type": "integer"}), "then": _present("type", {"const": "int"})},
        {
            "if": _present("type", {"const": "int"}),
            "then": {
                "properties": {"low": {"type": "integer"}, "high": {"type": "integer"}},
                "not": {"allOf": [_present("log", {"const": True}), _present("step", {"minimum": 2})]},
            },
        },
    ]
}

TPE_RULES: dict[str, Any] = {
    "if": _present("group", {"const": True}),
    "then": {"properties": {"multivariate": {"const": True}}},
}

RUNNERS_NEED_A_CENTRAL_STORE: dict[str, Any] = {
    "if": _present("compute", {"type": "object", **_present("runners", {"minimum": 2})}),
    "then": _present("central_store", {"type": "object"}),
}


def sampler_option_rules(
    samplers: dict[str, dict[str, Any]], algorithms: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`options` follows the chosen sampler's model when the algorithm is optuna (the default),
    or the model of a built-in algorithm named in `algorithms` (e.g. abc-smc)."""
    rules = [
        {"if": {"properties": {"name": {"const": name}}, "required": ["name"]},
         "then": {"properties": {"options": schema}}}
        for name, schema in (algorithms or {}).items()
    ]  # fmt: skip
    for sampler, schema in samplers.items():
        chosen = {"sampler": {"const": sampler}, "name": {"const": "optuna"}}
        condition: dict[str, Any] = {"properties": chosen}
        if sampler != "tpe":  # tpe is the default: it applies when `sampler` is absent too
            condition["required"] = ["sampler"]
        rules.append({"if": condition, "then": {"properties": {"options": schema}}})
    return {"allOf": rules}


def document_header(schema: dict[str, Any]) -> None:
    """The dialect and id validators and editors look for, and the document-wide rules."""
    schema.update({"$schema": SCHEMA_DIALECT, "$id": SCHEMA_ID, **RUNNERS_NEED_A_CENTRAL_STORE})
