"""Recorded orchestrator invocations, re-run to prove that every episode replays identically."""
from dataclasses import dataclass
from typing import Callable

from .actions import Outcome, invoke
from .errors import NonDeterminismError


@dataclass(frozen=True)
class Recording:
    """One orchestrator invocation: the exact context JSON sent and what came back."""
    instance_id: str
    name: str
    context_json: str
    outcome: Outcome


def replay_all(recordings: list, orchestrators: dict) -> int:
    """Re-run each recording; any different reply means a non-deterministic orchestrator."""
    for number, recording in enumerate(recordings):
        handle: Callable[[str], str] = orchestrators[recording.name]
        again = invoke(handle, recording.context_json)
        if again != recording.outcome:
            raise NonDeterminismError(
                f"recorded invocation #{number} of '{recording.name}' (instance "
                f"'{recording.instance_id}') replied differently: recorded "
                f"{recording.outcome.state.get('actions')} / {recording.outcome.error!r}, "
                f"now {again.state.get('actions')} / {again.error!r}")
    return len(recordings)
