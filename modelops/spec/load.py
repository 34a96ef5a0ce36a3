"""Reading run documents (YAML or JSON) into a validated `RunSpec`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import FieldError, SpecError
from .run import RunSpec


def parse_spec(data: Any) -> RunSpec:
    """Validate an already-parsed document; every problem becomes a `FieldError`."""
    if not isinstance(data, dict):
        raise SpecError([FieldError((), f"expected a mapping at the top level, got {type(data).__name__}")])
    try:
        return RunSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError.from_validation(exc) from None


def parse_text(text: str) -> RunSpec:
    """Parse YAML (of which JSON is a subset) and validate it."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError([FieldError((), f"not valid YAML or JSON: {exc}")]) from None
    return parse_spec(data)


def load_spec(path: str | Path) -> RunSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([FieldError((), f"cannot read {path}: {exc.strerror or exc}")]) from None
    return parse_text(text)


def with_overrides(spec: RunSpec, **overrides: Any) -> RunSpec:
    """A copy with dotted-path overrides (e.g. ``{"budget.trials": 10}``), validated again."""
    data = spec.model_dump(mode="json", by_alias=True)
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return parse_spec(data)


def spec_digest(spec: RunSpec) -> str:
    """SHA-256 of the canonical JSON of the effective document (after overrides)."""
    canonical = json.dumps(spec.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
