"""The ask/tell seam every calibration algorithm implements, so the runner can drive any of them."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .types import TrialResult, UniqueParameterSet


@runtime_checkable
class AdaptiveAlgorithm(Protocol):
    """An algorithm proposing parameter sets and learning from their results.

    Several concurrent workers need a transactional coordinator (a database) behind it.
    """

    def ask(self, n: int) -> list[UniqueParameterSet]:
        """Propose up to `n` sets; fewer or `[]` means the caller should back off, not spin."""
        ...

    def tell(self, results: list[TrialResult]) -> None:
        """Record results in any order; an identical resend is a no-op, a conflict is rejected."""
        ...

    def finished(self) -> bool:
        """Whether the search is done; late results are still accepted afterwards."""
        ...
