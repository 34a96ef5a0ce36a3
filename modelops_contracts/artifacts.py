"""What a simulation hands back: Arrow tables with integrity checks, or a structured error."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .errors import ContractViolationError
from .validation import PicklesFrozenMappings, frozen_mapping, require_number, require_text, require_uint64

ARROW_STREAM_CONTENT_TYPE = "application/vnd.apache.arrow.stream"

_HEX64 = re.compile(r"[0-9a-f]{64}")


def checksum_of(data: bytes) -> str:
    """BLAKE2b-256 hex digest, the checksum every artifact carries."""
    return hashlib.blake2b(data, digest_size=32).hexdigest()


@dataclass(frozen=True, kw_only=True)
class TableArtifact:
    """One output table as Arrow IPC stream bytes, held inline or by reference.

    An inline artifact is checked against its size and checksum on construction,
    so corrupt bytes never pass as a result.
    """

    size: int
    checksum: str
    inline: bytes | None = None
    ref: str | None = None
    content_type: str = ARROW_STREAM_CONTENT_TYPE

    def __post_init__(self) -> None:
        if self.content_type != ARROW_STREAM_CONTENT_TYPE:
            raise ContractViolationError(
                f"content_type must be {ARROW_STREAM_CONTENT_TYPE!r}, got {self.content_type!r}"
            )
        require_uint64("size", self.size)
        if not isinstance(self.checksum, str) or not _HEX64.fullmatch(self.checksum):
            raise ContractViolationError(
                f"checksum must be 64 lowercase hex characters (BLAKE2b-256), got {self.checksum!r}"
            )
        if (self.inline is None) == (self.ref is None):
            raise ContractViolationError("exactly one of inline or ref must be set")
        if self.ref is not None:
            require_text("ref", self.ref)
            return
        if not isinstance(self.inline, bytes):
            raise ContractViolationError(f"inline must be bytes, got {type(self.inline).__name__}")
        if len(self.inline) != self.size:
            raise ContractViolationError(
                f"size {self.size} does not match the {len(self.inline)} inline bytes"
            )
        if checksum_of(self.inline) != self.checksum:
            raise ContractViolationError("checksum does not match the inline bytes")

    @classmethod
    def from_bytes(cls, data: bytes) -> TableArtifact:
        """An inline artifact whose size and checksum are computed from `data`.

        Built without `__post_init__`: what it would check was just computed here, and a
        second hash of every simulation output is a measurable part of a cheap trial.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ContractViolationError(f"data must be bytes, got {type(data).__name__}")
        data = bytes(data)
        artifact = cls.__new__(cls)
        artifact.__dict__.update(
            size=len(data), checksum=checksum_of(data), inline=data, ref=None, content_type=ARROW_STREAM_CONTENT_TYPE
        )  # a frozen dataclass's fields, in one step rather than one object.__setattr__ each
        return artifact


@dataclass(frozen=True)
class ErrorInfo:
    """Why a simulation failed, in a form worth showing a user and deciding a retry on."""

    error_type: str
    message: str
    retryable: bool = False

    def __post_init__(self) -> None:
        require_text("error_type", self.error_type)
        if not isinstance(self.message, str):
            raise ContractViolationError(
                f"message must be a string, got {type(self.message).__name__}"
            )
        if not isinstance(self.retryable, bool):
            raise ContractViolationError(f"retryable must be a bool, got {self.retryable!r}")


@dataclass(frozen=True)
class SimReturn(PicklesFrozenMappings):
    """The result of one SimTask; `outputs` and `metrics` are read-only copies."""

    task_id: str
    outputs: Mapping[str, TableArtifact]
    error: ErrorInfo | None = None
    metrics: Mapping[str, float] | None = None
    cached: bool = False

    def __post_init__(self) -> None:
        require_text("task_id", self.task_id)
        outputs = frozen_mapping("outputs", self.outputs)
        for name, artifact in outputs.items():
            require_text("output name", name)
            if not isinstance(artifact, TableArtifact):
                raise ContractViolationError(
                    f"output {name!r} must be a TableArtifact, got {type(artifact).__name__}"
                )
        if self.error is not None and not isinstance(self.error, ErrorInfo):
            raise ContractViolationError(
                f"error must be an ErrorInfo, got {type(self.error).__name__}"
            )
        if not outputs and self.error is None:
            raise ContractViolationError("outputs may be empty only when error is set")
        if self.metrics is not None:
            metrics = frozen_mapping("metrics", self.metrics)
            for name, value in metrics.items():
                require_number(f"metric {name!r}", value)
            object.__setattr__(self, "metrics", metrics)
        if not isinstance(self.cached, bool):
            raise ContractViolationError(f"cached must be a bool, got {self.cached!r}")
        object.__setattr__(self, "outputs", outputs)

    @classmethod
    def succeeded(cls, task_id: str, outputs: dict[str, TableArtifact], seconds: float) -> SimReturn:
        """A completed simulation's result from values checked already: a `SimTask`'s id, artifacts from
        `TableArtifact.from_bytes` and a float of the executor's own timing, in a fresh dict this takes over.

        Built without `__post_init__`, whose checks of those cost more than everything else the
        executor does per simulation; only the output names, which a model chooses, are checked.
        """
        if not outputs or not all(type(name) is str and name for name in outputs):
            return cls(task_id=task_id, outputs=outputs, metrics={"seconds": seconds})  # says what is wrong
        result = cls.__new__(cls)
        result.__dict__.update(
            task_id=task_id,
            outputs=MappingProxyType(outputs),
            error=None,
            metrics=MappingProxyType({"seconds": seconds}),
            cached=False,
        )
        return result

