"""The original plan's fake adapter: proposes a fixed grid, learns nothing.

Useful to exercise the runner without an optimiser. Built by the runner as
``FakeAdapter(space=..., budget=..., seed=...)`` when a run document names
``algorithm.name: examples.fake_adapter:FakeAdapter``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelops_contracts import TrialResult, UniqueParameterSet


class FakeAdapter:
    def __init__(self, space: Mapping[str, Any] | None = None, budget: int = 20, seed: int | None = None):
        self.names = sorted(space) if space else ["x", "y"]
        self.max_trials = budget
        self.n_asked = 0
        self.results: dict[str, TrialResult] = {}

    def ask(self, n: int) -> list[UniqueParameterSet]:
        count = max(0, min(n, self.max_trials - self.n_asked))
        proposals = [
            UniqueParameterSet.from_dict({name: float(self.n_asked + i + j) for j, name in enumerate(self.names)})
            for i in range(count)
        ]
        self.n_asked += count
        return proposals

    def tell(self, results: list[TrialResult]) -> None:
        self.results.update((r.param_id, r) for r in results)

    def finished(self) -> bool:
        return len(self.results) >= self.max_trials
