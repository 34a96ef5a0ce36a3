"""Core value types passed between calibration algorithms and the ops side."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ContractViolationError
from .param_id import make_param_id
from .validation import PicklesFrozenMappings, frozen_mapping, json_size, require_number, require_text, require_uint64

Scalar = bool | int | float | str

MAX_DIAG_BYTES = 65_536
"""Cap on a trial's diagnostics as compact UTF-8 JSON, so results stay cheap to store."""


class TrialStatus(enum.Enum):
    """How a trial ended; only COMPLETED trials carry a meaningful loss."""

    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class UniqueParameterSet(PicklesFrozenMappings):
    """One point in parameter space with its stable id; `params` is a read-only copy."""

    params: Mapping[str, Scalar]
    param_id: str

    def __post_init__(self) -> None:
        params = frozen_mapping("params", self.params)
        for key, value in params.items():
            if not isinstance(value, (bool, int, float, str)):
                raise ContractViolationError(
                    f"param {key!r} must be a scalar (bool, int, float, str), "
                    f"got {type(value).__name__}"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise ContractViolationError(f"param {key!r} must be finite, got {value}")
        require_text("param_id", self.param_id)
        object.__setattr__(self, "params", params)

    def __hash__(self) -> int:
        # The read-only params view is unhashable; equal sets always share a param_id.
        return hash(self.param_id)

    @classmethod
    def from_dict(cls, params: Mapping[str, Scalar]) -> UniqueParameterSet:
        """Build the set with `param_id = make_param_id(params)`."""
        return cls(params=params, param_id=make_param_id(params))


@dataclass(frozen=True)
class TrialResult(PicklesFrozenMappings):
    """The outcome of evaluating one parameter set; `diagnostics` is a read-only copy."""

    param_id: str
    loss: float
    diagnostics: Mapping[str, Any] = field(default_factory=dict)
    status: TrialStatus = TrialStatus.COMPLETED

    def __post_init__(self) -> None:
        require_text("param_id", self.param_id)
        if not isinstance(self.status, TrialStatus):
            raise ContractViolationError(f"status must be a TrialStatus, got {self.status!r}")
        loss = require_number("loss", self.loss)
        if self.status is TrialStatus.COMPLETED and not math.isfinite(loss):
            raise ContractViolationError(
                f"loss must be finite when status is COMPLETED, got {loss}"
            )
        if math.isnan(loss):
            loss = math.nan  # one shared NaN object, so identical failed results compare equal
        diagnostics = frozen_mapping("diagnostics", self.diagnostics)
        size = json_size("diagnostics", dict(diagnostics))
        if size > MAX_DIAG_BYTES:
            raise ContractViolationError(
                f"diagnostics must serialise to at most {MAX_DIAG_BYTES} bytes of JSON, got {size}"
            )
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "diagnostics", diagnostics)


@dataclass(frozen=True)
class SeedInfo:
    """The seeds behind one trial; every one must fit a uint64 so any RNG can take it."""

    base_seed: int
    trial_seed: int
    replicate_seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        require_uint64("base_seed", self.base_seed)
        require_uint64("trial_seed", self.trial_seed)
        if not isinstance(self.replicate_seeds, (tuple, list)):
            raise ContractViolationError(
                "replicate_seeds must be a tuple of ints, "
                f"got {type(self.replicate_seeds).__name__}"
            )
        seeds = tuple(self.replicate_seeds)
        for index, seed in enumerate(seeds):
            require_uint64(f"replicate_seeds[{index}]", seed)
        object.__setattr__(self, "replicate_seeds", seeds)
