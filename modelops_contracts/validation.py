"""Shared checks, so every contract type rejects bad values with the same words."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .errors import ContractViolationError

UINT64_MAX = 2**64 - 1


def require_text(name: str, value: Any) -> str:
    """Reject anything but a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ContractViolationError(f"{name} must be a non-empty string, got {value!r}")
    return value


def require_uint64(name: str, value: Any) -> int:
    """Reject non-integers (bool included) and integers outside [0, 2**64 - 1]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractViolationError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= UINT64_MAX:
        raise ContractViolationError(f"{name} must be a uint64 in [0, 2**64 - 1], got {value}")
    return value


def require_number(name: str, value: Any) -> float:
    """Reject non-numbers (bool included); return the value as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ContractViolationError(f"{name} must be a number, got {type(value).__name__}")
    return float(value)


def frozen_mapping(name: str, value: Any) -> Mapping[str, Any]:
    """Copy a mapping with string keys into a read-only view, so later edits cannot leak in."""
    if type(value) is not dict and not isinstance(value, Mapping):  # a dict skips the slow ABC check
        raise ContractViolationError(f"{name} must be a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ContractViolationError(f"{name} keys must be strings, got {key!r}")
    return MappingProxyType(dict(value))


class PicklesFrozenMappings:
    """For frozen dataclasses holding `frozen_mapping` views, which plain pickle refuses: pickled as dicts,
    frozen again when loaded (without validating again: what was pickled was checked when made).

    Without it every pickle of such a value failed first and fell back to a slower pickler (Dask's and
    cloudpickle's), on every call that carries trials to a worker."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: dict(v) if isinstance(v, MappingProxyType) else v for k, v in self.__dict__.items()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, MappingProxyType(value) if isinstance(value, dict) else value)


def json_size(name: str, value: Any) -> int:
    """UTF-8 size of the compact, strict (no NaN/Inf) JSON form of `value`."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ContractViolationError(f"{name} must be JSON-serialisable: {exc}") from exc
    return len(text.encode("utf-8"))
