"""The results store: removing a run's results when it is cancelled with purge.

Results are kept by default; `DELETE /api/runs/{id}?purge=true` asks for them gone.
Deleting what is already gone is fine, so the activity can run any number of times.
"""

from __future__ import annotations

import azure.durable_functions as df

from modelops.storage import open_results

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
def purge_results(payload: dict) -> dict:
    """`{results_url}` -> `{deleted: n}`."""
    location = open_results(payload["results_url"])
    names = location.list()
    for name in names:
        location.delete(name)
    return {"deleted": len(names)}
