"""Simulation tasks and the service that runs them, the ops half of the seam."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .artifacts import SimReturn
from .entrypoint import parse_entrypoint
from .errors import ContractViolationError, EntrypointFormatError
from .types import UniqueParameterSet
from .validation import PicklesFrozenMappings, frozen_mapping, require_text, require_uint64


def _id_part(name: str, value: Any) -> str:
    require_text(name, value)
    if "|" in value:
        raise ContractViolationError(f"{name} must not contain '|', got {value!r}")
    return value


def _check_entrypoint(entrypoint: Any) -> str:
    require_text("entrypoint", entrypoint)
    try:
        parse_entrypoint(entrypoint)
    except EntrypointFormatError as exc:
        raise ContractViolationError(str(exc)) from exc
    return entrypoint


def make_task_id(bundle_ref: str, entrypoint: str, param_id: str, seed: int) -> str:
    """BLAKE2b-128 hex of ``sim:v1|bundle_ref|entrypoint|param_id|seed``.

    The entrypoint is part of the key, so two scenarios of one bundle never share a
    cache entry; '|' is refused inside parts so distinct inputs cannot collide.
    """
    text = "|".join(
        [
            "sim:v1",
            _id_part("bundle_ref", bundle_ref),
            _check_entrypoint(entrypoint),
            _id_part("param_id", param_id),
            str(require_uint64("seed", seed)),
        ]
    )
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class SimTask(PicklesFrozenMappings):
    """One deterministic simulation run; `config` and `env` are read-only copies."""

    bundle_ref: str
    entrypoint: str
    params: UniqueParameterSet
    seed: int
    outputs: tuple[str, ...] | None = None
    config: Mapping[str, Any] | None = None
    env: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.params, UniqueParameterSet):
            raise ContractViolationError(
                f"params must be a UniqueParameterSet, got {type(self.params).__name__}"
            )
        # Checks bundle_ref, entrypoint, param_id and seed, so task_id can never fail later; kept, since
        # computing it (a parse and a hash) is a fair share of a cheap simulation's overhead.
        task_id = make_task_id(self.bundle_ref, self.entrypoint, self.params.param_id, self.seed)
        object.__setattr__(self, "_task_id", task_id)
        if self.outputs is not None:
            if isinstance(self.outputs, str) or not isinstance(self.outputs, Sequence):
                raise ContractViolationError(
                    f"outputs must be a tuple of names, got {self.outputs!r}"
                )
            outputs = tuple(require_text("output name", name) for name in self.outputs)
            if len(set(outputs)) != len(outputs):
                raise ContractViolationError(f"outputs must not repeat a name, got {outputs!r}")
            object.__setattr__(self, "outputs", outputs)
        for name in ("config", "env"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, frozen_mapping(name, getattr(self, name)))

    @property
    def task_id(self) -> str:
        """The task's content id, see `make_task_id`."""
        return self._task_id


@runtime_checkable
class SimulationService(Protocol):
    """Runs SimTasks somewhere (in process, Dask, a cloud pool) behind one interface."""

    def submit(self, task: SimTask) -> Future[SimReturn]:
        """Start one task and return a future for its result."""
        ...

    def gather(self, futures: Sequence[Future[SimReturn]]) -> list[SimReturn]:
        """Wait for the futures and return their results in the same order."""
        ...

    def submit_batch(self, tasks: Sequence[SimTask]) -> list[Future[SimReturn]]:
        """Start several tasks at once; futures come back in task order."""
        ...
