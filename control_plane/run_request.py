"""The body of `POST /api/runs`: a run document plus where to run it.

The document itself is `RunSpec`, the same model the CLI validates with, so a
document valid for `mops validate` is valid here and errors read the same.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelops.naming import check_run_id
from modelops.spec import RunSpec, spec_digest

TARGETS = ("local", "azure", "existing")
# An environment names Azure resources and a Kubernetes namespace: a short DNS label.
ENVIRONMENT_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?$"


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: RunSpec
    target: Literal["local", "azure", "existing"] = "local"
    environment: str = Field("dev", pattern=ENVIRONMENT_PATTERN)
    run_id: str | None = Field(None, description="Default: <name>-<8 hex of the document's SHA-256>.")
    bundle_store: str | None = Field(
        None,
        description="Where the bundle `spec.model.bundle` names was pushed (a folder or blob URL): "
        "default the app's bundle store (GET /api/bundle-store). Runners and workers fetch it from there.",
    )
    base_dir: str | None = Field(
        None,
        description="Unbundled documents only: the folder their relative data paths start from, where the runner runs: "
        "on this machine for the local target (default: the app's folder), in the runner image for "
        "cluster targets (default: the image's working folder).",
    )

    @field_validator("run_id")
    @classmethod
    def _valid_run_id(cls, value: str | None) -> str | None:
        return value if value is None else check_run_id(value)

    def default_run_id(self) -> str:
        return self.run_id or f"{self.spec.name}-{spec_digest(self.spec)[:8]}"


class EnvironmentRequest(BaseModel):
    """The body of `PUT /api/environments/{env}` (the name comes from the path)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: str = Field(pattern=ENVIRONMENT_PATTERN)
    target: Literal["local", "azure", "existing"] = "local"
