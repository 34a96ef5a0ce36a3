"""What a lease call decides for each proposal, whatever keeps the ledger (SQL tables or this process's dicts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .trials import TrialRecord


@dataclass(frozen=True)
class Lease:
    """What `Ledger.lease` decided: "new" (evaluate it), "finished", "mine", "leased" (elsewhere) or "full"."""

    outcome: str
    number: int | None = None
    record: TrialRecord | None = None


def decide(
    proposals: list[tuple[str, dict[str, Any]]], known: Callable[[str], Lease | None], number: int, budget: int
) -> tuple[list[Lease], list[tuple[str, dict[str, Any], int]]]:
    """Each proposal's lease, in order, and the new leases as (param_id, params, number).

    `known(param_id)` is the lease of a set the ledger has a row for (None: no
    row). A set without one is "new", numbered on from `number` (every lease
    ever made has a number below it), while the budget has room, then "full". A
    set proposed twice in one call is "mine" the second time.
    """
    leases: list[Lease] = []
    new: list[tuple[str, dict[str, Any], int]] = []
    here: dict[str, Lease] = {}
    for param_id, params in proposals:
        lease = here.get(param_id) or known(param_id)
        if lease is None:
            if number >= budget:
                lease = Lease("full")
            else:
                lease = Lease("new", number)
                here[param_id] = Lease("mine", number)
                new.append((param_id, params, number))
                number += 1
        leases.append(lease)
    return leases, new
