"""Every app setting the Function App reads, in one place.

The Bicep template and `local.settings.sample.json` must define exactly these
(a test checks both ways), so a setting is never read without being deployed,
nor deployed without being read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

SETTINGS: dict[str, tuple[str, str]] = {
    # name: (default, what it is for)
    "MODELOPS_RESULTS_ROOT": ("runs", "where run results go: a folder, or a blob container URL; /<run id> is added"),
    "MODELOPS_RUN_DEADLINE_HOURS": ("48", "a run still going after this long is stopped and failed"),
    "MODELOPS_HEARTBEAT_SECONDS": ("120", "with no progress event for this long, the runner is checked"),
    "MODELOPS_EVENTS_URL": ("", "where runners send progress events (this app's /api/events, or an Event Grid topic)"),
    "MODELOPS_LOCAL_STATE_DIR": ("", "local target: the folder for process state and logs (default: a temp folder)"),
}


def setting(name: str, env: Mapping[str, str] | None = None) -> str:
    """The value of a known setting (its default when unset); unknown names are a bug."""
    default, _ = SETTINGS[name]
    return (os.environ if env is None else env).get(name) or default
