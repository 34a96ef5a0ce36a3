"""The run document: schema, loading, and pre-run checks."""

from .errors import FieldError, SpecError
from .load import load_spec, parse_spec, parse_text, spec_digest, with_overrides
from .preflight import preflight
from .run import (
    BUILTIN_LOSSES,
    SAMPLERS,
    Algorithm,
    Budget,
    CentralStore,
    Compute,
    Model,
    Parameter,
    RunSpec,
    Target,
    json_schema,
)

__all__ = [
    "BUILTIN_LOSSES",
    "SAMPLERS",
    "Algorithm",
    "Budget",
    "CentralStore",
    "Compute",
    "FieldError",
    "Model",
    "Parameter",
    "RunSpec",
    "SpecError",
    "Target",
    "json_schema",
    "load_spec",
    "parse_spec",
    "parse_text",
    "preflight",
    "spec_digest",
    "with_overrides",
]
