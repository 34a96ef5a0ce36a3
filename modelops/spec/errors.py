"""Field errors: one shape for every way a run document can be wrong.

Schema errors (pydantic) and environment errors (an entrypoint that does not
import, a missing target file) both become `FieldError`s, so the CLI, the HTTP
API (problem+json) and tests report them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True)
class FieldError:
    loc: tuple[str | int, ...]
    msg: str

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.loc) or "(document)"

    def __str__(self) -> str:
        return f"{self.field}: {self.msg}"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.msg}


class SpecError(ValueError):
    """The run document is invalid; `errors` names every bad field."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(f"invalid run document ({len(errors)} error(s)):\n{lines}")

    @classmethod
    def from_validation(cls, exc: ValidationError) -> SpecError:
        errors = []
        for err in exc.errors(include_url=False):
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field (check its spelling)"
            errors.append(FieldError(tuple(err["loc"]), msg))
        return cls(errors)
