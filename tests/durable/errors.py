"""Errors the replay driver raises, typed so the fake HTTP API can map them to status codes."""


class DriverError(Exception):
    """The driver was asked for something the Durable extension would refuse."""


class NonDeterminismError(DriverError, AssertionError):
    """A replay's actions disagree with the events its history recorded for them."""


class UnknownFunction(DriverError):
    """An orchestrator or activity name the app does not register."""


class InstanceNotFound(DriverError, KeyError):
    """No instance with that id exists (HTTP 404 from the extension)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InstanceGone(DriverError):
    """The instance already completed, failed or was terminated (HTTP 410)."""


class InstanceAlreadyExists(DriverError):
    """start_new for an id that is still Pending or Running (HTTP 409)."""


class StillBusy(DriverError):
    """drain() hit its episode limit: an eternal orchestration needs advance() instead."""
