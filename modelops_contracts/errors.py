"""Exceptions of the contracts layer, so callers can tell a broken contract from a bug."""


class ContractViolationError(Exception):
    """A value crossing the science/ops seam breaks the protocol's rules."""


class EntrypointFormatError(ValueError):
    """An entrypoint string does not follow the entrypoint grammar."""
