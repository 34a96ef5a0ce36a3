"""A replay driver that plays the Durable Functions extension's part in tests.

    driver = ReplayDriver(app)                  # a df.DFApp, or {name: function}
    instance_id = driver.start_new("orchestrator", client_input={"n": 3})
    driver.drain()                              # activities, episodes, then timers
    assert driver.get_status(instance_id).output == ...
    driver.replay_all_recorded()                # every recorded episode replays identically

HTTP functions run against `driver.client()` (the SDK's real client, answered in-process)
via `await driver.call_client("http_start", req=request)`.
"""
from .client import DurableClientDouble
from .driver import ReplayDriver
from .errors import (DriverError, InstanceAlreadyExists, InstanceGone, InstanceNotFound,
                     NonDeterminismError, StillBusy, UnknownFunction)
from .recording import Recording
from .store import Status

__all__ = ["DriverError", "DurableClientDouble", "InstanceAlreadyExists", "InstanceGone",
           "InstanceNotFound", "NonDeterminismError", "Recording", "ReplayDriver", "Status",
           "StillBusy", "UnknownFunction"]
