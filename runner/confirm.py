"""A noise-robust best: the search's top candidates re-scored with fresh replicates.

The lowest of many noisy losses is optimistic (the winner's curse): it is the
luckiest evaluation, not the best parameter set. After the search, each of the
`top` candidates is evaluated `repeats` more times with seeds from the
confirmation stream (`modelops.seeds.CONFIRM`), and the best is the candidate
whose fresh losses have the lowest mean. That mean is the lowest of `top`
noisy means, optimistic in turn, so the chosen best is evaluated `holdout`
more times with confirmation-stream replicates no choice has seen (phase
"holdout"): those alone give the reported loss and its standard error.

Confirmation evaluations are ordinary trials to the engine — leased in their
own phase of the ledger, so a resumed or shared run evaluates each exactly
once — proposed by `Confirmation`, an `AdaptiveAlgorithm` with a fixed list.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from dataclasses import replace
from collections.abc import Sequence
from typing import Any

from modelops.seeds import CONFIRM, replicate_seeds
from modelops.spec import RunSpec
from modelops_contracts import TrialResult, UniqueParameterSet

from .trials import TrialRecord

PHASE = "confirm"
HOLDOUT = "holdout"


def candidates(records: Sequence[TrialRecord], top: int) -> list[TrialRecord]:
    """The `top` completed trials with the lowest search losses (ties: the earlier trial)."""
    completed = [r for r in records if r.status == "completed"]
    return sorted(completed, key=lambda r: (r.loss, r.number))[:top]


def confirmation_id(param_id: str, repeat: int) -> str:
    """The ledger key of one confirmation evaluation (a param_id-shaped hex digest)."""
    return hashlib.blake2b(f"modelops:confirm|{param_id}|{repeat}".encode(), digest_size=32).hexdigest()


class Confirmation:
    """Proposes each (candidate, repeat) once; finished when every one is told."""

    def __init__(self, replicates: int, chosen: Sequence[TrialRecord], repeats: range):
        self.replicates = replicates
        self.of: dict[str, tuple[TrialRecord, int]] = {
            confirmation_id(c.param_id, k): (c, k) for c in chosen for k in repeats
        }
        self._queue = list(self.of)
        self._told: set[str] = set()

    @property
    def budget(self) -> int:
        return len(self.of)

    def ask(self, n: int) -> list[UniqueParameterSet]:
        asked, self._queue = self._queue[:n], self._queue[n:]
        return [UniqueParameterSet(self.of[cid][0].params, cid) for cid in asked]

    def tell(self, results: list[TrialResult]) -> None:
        self._told.update(r.param_id for r in results)

    def finished(self) -> bool:
        return self._told >= set(self.of)

    def seeds(self, cid: str) -> tuple[int, ...]:
        """Fresh seeds: repeat k of a candidate takes confirmation-stream replicates k*R .. k*R+R-1."""
        candidate, repeat = self.of[cid]
        return replicate_seeds(candidate.param_id, self.replicates, CONFIRM, start=repeat * self.replicates)

    def mark(self, records: Sequence[TrialRecord], phase: str, first_number: int) -> list[TrialRecord]:
        """The phase's records as rows of the run: marked, naming their candidate, numbered after the search."""
        for record in records:
            record.phase, record.confirms = phase, self.of[record.param_id][0].param_id
            record.number += first_number
        return list(records)


def pooled(chosen: Sequence[TrialRecord], confirmations: Sequence[TrialRecord]) -> list[dict[str, Any]]:
    """Each candidate's fresh-loss mean and standard error, best first (unconfirmed ones last)."""
    fresh: dict[str, list[TrialRecord]] = {c.param_id: [] for c in chosen}
    for record in confirmations:
        if record.status == "completed":
            fresh[record.confirms].append(record)
    rows = []
    for candidate in chosen:
        done = fresh[candidate.param_id]
        losses = [r.loss for r in done]
        rows.append(
            {
                "param_id": candidate.param_id,
                "params": candidate.params,
                "search_loss": candidate.loss,
                "loss": statistics.fmean(losses) if losses else None,
                "loss_se": statistics.stdev(losses) / math.sqrt(len(losses)) if len(losses) > 1 else None,
                "target_losses": {t: statistics.fmean(r.target_losses[t] for r in done) for t in candidate.target_losses}
                if done
                else {},
                "evaluations": len(losses),
            }
        )
    return sorted(rows, key=lambda row: (row["loss"] is None, row["loss"] or 0.0))


def confirm(engine_for, spec: RunSpec, ledger) -> tuple[dict[str, Any] | None, list[TrialRecord]]:
    """Run the confirmation and holdout phases after a finished search.

    `engine_for(algorithm, ledger, seeds, mark)` builds the engine that evaluates
    a phase; `mark(record)` is a finished record as the run's row (for its event).
    Returns the summary's confirmation fields (None when there is nothing to
    confirm) and the phases' trial records, marked.
    """
    searched = ledger.records()
    chosen = candidates(searched, spec.confirm.top)
    if not chosen:
        return None, []
    repeats, first = spec.confirm.repeats, len(searched)
    choice = Confirmation(spec.replicates, chosen, range(repeats))
    records = _evaluate(engine_for, ledger, PHASE, choice, first)
    rows = pooled(chosen, records)
    best = rows[0]
    section = {"top": spec.confirm.top, "repeats": repeats, "holdout": spec.confirm.holdout, "candidates": rows}
    if best["loss"] is None:
        return {"confirm": section | {"evaluations": len(records)}}, records
    winner = next(c for c in chosen if c.param_id == best["param_id"])
    holdout = Confirmation(spec.replicates, [winner], range(repeats, repeats + spec.confirm.holdout))
    held = _evaluate(engine_for, ledger, HOLDOUT, holdout, first + choice.budget)
    estimate = pooled([winner], held)[0]
    if estimate["loss_se"] is not None:  # the best's noise sd from its 2 groups: 4 losses alone estimate it badly
        own = [r for r in records + held if r.confirms == winner.param_id]  # not others': noise grows with the loss
        estimate["loss_se"] = _pooled_sd(own) / math.sqrt(estimate["evaluations"])
    reported = estimate if estimate["loss_se"] is not None else best  # fewer than 2 held-out losses: the choice's
    fields = {
        "best_params": best["params"],
        "best_loss": reported["loss"],
        "best_loss_se": reported["loss_se"],
        "best_search_loss": best["search_loss"],
        "best_param_id": best["param_id"],
        "best_target_losses": reported["target_losses"],
        "confirm": section
        | {
            "evaluations": len(records) + len(held),
            "chosen_loss": best["loss"],
            "chosen_loss_se": best["loss_se"],
            "heldout_evaluations": estimate["evaluations"],
        },
    }
    return fields, records + held


def _pooled_sd(records: Sequence[TrialRecord]) -> float:
    """One evaluation's noise sd, pooled within the (phase, candidate) groups of completed re-scorings."""
    groups: dict[tuple[str, str], list[float]] = {}
    for record in records:
        if record.status == "completed":
            groups.setdefault((record.phase, record.confirms), []).append(record.loss)
    freedom = sum(len(g) - 1 for g in groups.values())
    return math.sqrt(sum((len(g) - 1) * statistics.variance(g) for g in groups.values() if len(g) > 1) / freedom)


def _evaluate(engine_for, ledger, phase: str, proposals: Confirmation, first_number: int) -> list[TrialRecord]:
    """Evaluate every proposal in the ledger phase `phase`; its records, marked."""
    phased = ledger.phase(phase, proposals.budget)
    mark = lambda record: proposals.mark([replace(record)], phase, first_number)[0]  # noqa: E731
    engine_for(proposals, phased, proposals.seeds, mark).run()
    return proposals.mark([replace(r) for r in phased.records()], phase, first_number)  # not the ledger's own


def evaluation_sd(confirmed: dict[str, Any] | None) -> float | None:
    """The noise sd of one evaluation, from the confirmed best's fresh losses (None without them)."""
    rows = (confirmed or {}).get("confirm", {}).get("candidates") or []
    if not rows or rows[0]["loss_se"] is None:
        return None
    return rows[0]["loss_se"] * math.sqrt(rows[0]["evaluations"])
