"""Stable parameter-set ids, so the same parameters name the same trial on every machine."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from .errors import ContractViolationError

PARAM_ID_PREFIX = "contracts:param:v1|"


def canonicalize(value: Any) -> Any:
    """Plain-JSON form of `value`: mappings key-sorted, tuples as lists, NaN/Inf refused.

    Accepts str-keyed mappings, lists, tuples, None, bool, int, finite float and str;
    anything else has no single JSON spelling and is rejected.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ContractViolationError(f"param values must be finite, got {value}")
        return float(value)
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise ContractViolationError(f"param keys must be strings, got {key!r}")
        return {key: canonicalize(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonicalize(item) for item in value]
    raise ContractViolationError(f"unsupported param value type {type(value).__name__}: {value!r}")


def canonical_text(params: Mapping[str, Any]) -> str:
    """The exact text that is hashed: prefix plus compact, key-sorted JSON."""
    if not isinstance(params, Mapping):
        raise ContractViolationError(f"params must be a mapping, got {type(params).__name__}")
    body = json.dumps(
        canonicalize(params), separators=(",", ":"), ensure_ascii=False, sort_keys=True
    )
    return PARAM_ID_PREFIX + body


def make_param_id(params: Mapping[str, Any]) -> str:
    """BLAKE2b-256 hex of the canonical text; key order is irrelevant, 1/1.0/True differ."""
    return hashlib.blake2b(canonical_text(params).encode("utf-8"), digest_size=32).hexdigest()
