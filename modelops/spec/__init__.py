"""The run document: schema, loading, and pre-run checks."""

from .errors import FieldError, SpecError
from .load import load_spec, parse_spec, parse_text, spec_digest, with_overrides
from .preflight import preflight
from .run import (
    BUILTIN_LOSSES,
    Algorithm,
    Budget,
    CentralStore,
    Compute,
    Confirm,
    Model,
    Parameter,
    RunSpec,
    Target,
    json_schema,
)
from .sampler_options import SAMPLERS, SamplerOptions

__all__ = [
    "BUILTIN_LOSSES",
    "SAMPLERS",
    "Algorithm",
    "Budget",
    "CentralStore",
    "Compute",
    "Confirm",
    "FieldError",
    "Model",
    "Parameter",
    "RunSpec",
    "SamplerOptions",
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
