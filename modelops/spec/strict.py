"""The base of every run-document model: strict, closed and frozen.

Strict means a value must already have its type: `'8'` is not 8, `true` is not
1, `'yes'` is not True. The JSON Schema says the same, so a document the schema
refuses is refused here too. Models that add fields inherit all of it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
