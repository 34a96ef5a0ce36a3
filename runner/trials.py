"""What the runner records about each evaluated parameter set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelops_contracts import TrialResult, TrialStatus


@dataclass
class TrialRecord:
    number: int
    param_id: str
    params: dict[str, Any]
    seeds: tuple[int, ...]
    submitted_at: float
    status: str = "running"
    loss: float | None = None
    target_losses: dict[str, float] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    finished_at: float | None = None
    sim_seconds: float = 0.0
    phase: str = "search"  # or "confirm": a re-scoring of the candidate `confirms` (its param_id)
    confirms: str | None = None

    def finish(self, outcome: dict[str, Any], finished_at: float) -> None:
        self.status = outcome["status"]
        self.loss = outcome.get("loss")
        self.target_losses = outcome.get("target_losses", {})
        self.error = outcome.get("error")
        self.sim_seconds = outcome["sim_seconds"]
        self.finished_at = finished_at

    def to_result(self) -> TrialResult:
        if self.status == "completed":
            return TrialResult(self.param_id, self.loss, {"target_losses": self.target_losses})
        return TrialResult(self.param_id, float("nan"), {"error": self.error}, TrialStatus.FAILED)
