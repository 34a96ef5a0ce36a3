"""Turning entrypoint strings into callables.

Simulations, custom losses and custom algorithms are named by entrypoint
strings (contracts grammar). Loaded objects are cached per process because
Dask workers resolve the same entrypoint for every task.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from modelops_contracts import parse_entrypoint


class EntrypointImportError(ImportError):
    """An entrypoint names something that cannot be imported."""


@lru_cache(maxsize=64)
def load_object(entrypoint: str) -> Any:
    """The object an entrypoint names (for ``pkg.mod.Class/scenario``, the class)."""
    ref = parse_entrypoint(entrypoint)
    try:
        module = importlib.import_module(ref.module)
    except Exception as exc:  # an import can fail in any way; say which module and why
        raise EntrypointImportError(
            f"cannot import module {ref.module!r}: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        return getattr(module, ref.attribute)
    except AttributeError:
        raise EntrypointImportError(f"module {ref.module!r} has no attribute {ref.attribute!r}") from None


@lru_cache(maxsize=64)
def load_simulation(entrypoint: str) -> Callable[[Mapping[str, Any], int], Mapping[str, Any]]:
    """A callable ``(params, seed) -> outputs`` for a simulation entrypoint."""
    target = load_object(entrypoint)
    scenario = parse_entrypoint(entrypoint).scenario
    if scenario is None:
        if not callable(target):
            raise EntrypointImportError(f"{entrypoint!r} is not callable")
        return target
    if not isinstance(target, type) or not callable(getattr(target, "simulate", None)):
        raise EntrypointImportError(f"{entrypoint!r} must name a class with a simulate(params, seed, scenario) method")
    model = target()
    return lambda params, seed: model.simulate(params, seed, scenario=scenario)
