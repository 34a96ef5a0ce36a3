"""Our implementation of the modelops-contracts protocol (v0.3 line), swappable for upstream."""

from .adaptive import AdaptiveAlgorithm
from .artifacts import ARROW_STREAM_CONTENT_TYPE, ErrorInfo, SimReturn, TableArtifact
from .entrypoint import Entrypoint, parse_entrypoint
from .errors import ContractViolationError, EntrypointFormatError
from .param_id import make_param_id
from .simulation import SimTask, SimulationService, make_task_id
from .types import MAX_DIAG_BYTES, Scalar, SeedInfo, TrialResult, TrialStatus, UniqueParameterSet

__all__ = [
    "ARROW_STREAM_CONTENT_TYPE",
    "AdaptiveAlgorithm",
    "ContractViolationError",
    "Entrypoint",
    "EntrypointFormatError",
    "ErrorInfo",
    "MAX_DIAG_BYTES",
    "Scalar",
    "SeedInfo",
    "SimReturn",
    "SimTask",
    "SimulationService",
    "TableArtifact",
    "TrialResult",
    "TrialStatus",
    "UniqueParameterSet",
    "make_param_id",
    "make_task_id",
    "parse_entrypoint",
]
