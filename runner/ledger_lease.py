"""What a lease call decides for each proposal, whatever keeps the ledger (SQL tables or this process's dicts),
and PostgreSQL's lease call as one statement."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .ledger_tables import runs, trials
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


# PostgreSQL: a whole lease call in one round trip. Under the run's row lock, each statement of the function sees
# what was committed before it (READ COMMITTED), so the leases of runners that held the lock before are all seen.
# Returns the proposals' rows that existed (fresh false), then the ones it inserted, numbered in proposal order.
LEASE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION modelops_lease(p_run text, p_runner text, p_proposals json, p_stamp float8)
RETURNS TABLE (fresh boolean, param_id text, number integer, params text, status text, runner_id text,
               leased_at float8, finished_at float8, loss float8, record text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE room integer; first_number integer; n integer;
BEGIN
  SELECT r.budget - r.leased - r.done, r.leased + r.done INTO room, first_number
    FROM {runs.name} r WHERE r.run_id = p_run FOR UPDATE;
  RETURN QUERY SELECT false, t.param_id::text, t.number, t.params, t.status::text, t.runner_id::text, t.leased_at,
      t.finished_at, t.loss, t.record
    FROM {trials.name} t JOIN json_to_recordset(p_proposals) AS p(param_id text) ON t.param_id = p.param_id
    WHERE t.run_id = p_run;
  RETURN QUERY WITH inserted AS (
    INSERT INTO {trials.name} AS t (run_id, param_id, number, params, status, runner_id, leased_at)
    SELECT p_run, f.param_id, first_number + f.k - 1, f.params, 'leased', p_runner, p_stamp FROM (
      SELECT p.param_id, p.params, row_number() OVER (ORDER BY p.ord) AS k
      FROM json_to_recordset(p_proposals) AS p(param_id text, params text, ord integer)
      WHERE NOT EXISTS (SELECT 1 FROM {trials.name} e WHERE e.run_id = p_run AND e.param_id = p.param_id)
    ) f WHERE f.k <= room
    RETURNING true, t.param_id::text, t.number, t.params, t.status::text, t.runner_id::text, t.leased_at,
      t.finished_at, t.loss, t.record
  ) SELECT * FROM inserted;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN
    UPDATE {runs.name} r SET leased = r.leased + n WHERE r.run_id = p_run;
  END IF;
END $$
"""
_LEASE = text("SELECT * FROM modelops_lease(:run, :runner, CAST(:proposals AS json), :stamp)")


def lease_in_one_call(
    conn: Connection, run_id: str, runner_id: str, proposals: list[tuple[str, dict[str, Any]]], stamp: float
) -> tuple[dict[str, Any], list[int]]:
    """PostgreSQL: lease what has room (`LEASE_FUNCTION`); the rows that existed by param_id, the new numbers.

    The function numbers the new leases as `decide` would, so `decide` given the
    rows, the first new number and a budget ending after the last one tells the
    same outcomes.
    """
    first: dict[str, dict[str, Any]] = {}
    for param_id, params in proposals:  # a set proposed twice is leased once
        first.setdefault(param_id, {"param_id": param_id, "params": json.dumps(params), "ord": len(first)})
    values = {"run": run_id, "runner": runner_id, "proposals": json.dumps(list(first.values())), "stamp": stamp}
    rows = conn.execute(_LEASE, values).all()
    return {row.param_id: row for row in rows if not row.fresh}, sorted(row.number for row in rows if row.fresh)
