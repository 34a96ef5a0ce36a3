"""Names and ids that must be valid everywhere they travel.

A run id is a Durable instance id, a Kubernetes label value and namespace
suffix, and a results folder, so it is a DNS-1123 label (at most 63 characters).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone

_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def check_run_id(run_id: str) -> str:
    if not _DNS_LABEL.match(run_id):
        raise ValueError(
            f"invalid run id {run_id!r}: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return run_id


def new_run_id(name: str, now: datetime | None = None) -> str:
    """``<name>-<yyyymmdd>-<hhmmss>-<4 hex>``: sortable by start time, unique enough to not collide."""
    now = now or datetime.now(timezone.utc)
    return check_run_id(f"{name}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}")
