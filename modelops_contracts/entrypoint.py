"""The entrypoint grammar, so a bundle's simulation is named the same way everywhere.

Two forms: ``"pkg.mod:object"`` (a callable) and ``"pkg.mod.Class/scenario"``
(a class run under a named scenario). Mixing ``/`` and ``:`` is invalid.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from .errors import EntrypointFormatError

SCENARIO_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-_.]{0,62}[a-z0-9])?$")

_EXPECTED = "expected 'pkg.mod:object' or 'pkg.mod.Class/scenario'"


@dataclass(frozen=True)
class Entrypoint:
    """A parsed entrypoint; `scenario` is None for the ``module:attribute`` form."""

    module: str
    attribute: str
    scenario: str | None = None

    def __post_init__(self) -> None:
        if _split(str(self)) != (self.module, self.attribute, self.scenario):
            raise _fail(str(self), f"it does not round-trip from {self!r}")

    def __str__(self) -> str:
        if self.scenario is None:
            return f"{self.module}:{self.attribute}"
        return f"{self.module}.{self.attribute}/{self.scenario}"


def _is_name(part: str) -> bool:
    return part.isidentifier() and not keyword.iskeyword(part)


def _fail(text: object, reason: str) -> EntrypointFormatError:
    return EntrypointFormatError(f"invalid entrypoint {text!r}: {reason}; {_EXPECTED}")


def parse_entrypoint(text: str) -> Entrypoint:
    """Parse an entrypoint string, or raise EntrypointFormatError saying what is expected."""
    return Entrypoint(*_split(text))


def _split(text: str) -> tuple[str, str, str | None]:
    if not isinstance(text, str) or not text:
        raise _fail(text, "it must be a non-empty string")
    if "/" in text and ":" in text:
        raise _fail(text, "it contains both '/' and ':'")
    if ":" in text:
        module, _, attribute = text.partition(":")
        scenario = None
        if ":" in attribute:
            raise _fail(text, "it contains more than one ':'")
    elif "/" in text:
        path, _, scenario = text.partition("/")
        if not SCENARIO_PATTERN.fullmatch(scenario):
            raise _fail(
                text,
                f"scenario {scenario!r} must be a lowercase slug of 1-64 characters "
                "(a-z, 0-9, '-', '_', '.'; starting and ending with a letter or digit)",
            )
        module, _, attribute = path.rpartition(".")
        if not module:
            raise _fail(text, "a class entrypoint needs a module path before the class name")
    else:
        raise _fail(text, "it has neither ':' nor '/'")
    if not all(_is_name(part) for part in module.split(".")):
        raise _fail(text, f"module {module!r} must be dotted Python identifiers")
    if not _is_name(attribute):
        raise _fail(text, f"attribute {attribute!r} must be a Python identifier")
    return module, attribute, scenario
