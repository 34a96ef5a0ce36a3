"""Refusals of the fake Kubernetes API, carried as the `Status` bodies the real server sends.

The real client turns these into `ApiException(status=code, reason=...)` with the body
attached, so code under test sees exactly what a cluster would return.
"""

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           405: "MethodNotAllowed", 409: "Conflict", 410: "Gone", 415: "UnsupportedMediaType",
           422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable", 504: "Timeout"}


class KubeError(Exception):
    """A request the API server refuses; `status` is the `Status` object it answers with."""

    def __init__(self, code: int, message: str, reason: str = "", details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason or REASONS.get(code, "Unknown"),
                       "code": code}
        if details:
            self.status["details"] = details


def object_details(resource, name: str, **extra) -> dict:
    """`Status.details` naming an object the way the server does (plural kind, group if any)."""
    details = {"name": name, "kind": resource.plural, **extra}
    if resource.group:
        details["group"] = resource.group
    return details


def bad_request(message: str) -> KubeError:
    return KubeError(400, message)


def not_found(resource, name: str) -> KubeError:
    return KubeError(404, f'{resource.qualified} "{name}" not found',
                     details=object_details(resource, name))


def already_exists(resource, name: str) -> KubeError:
    return KubeError(409, f'{resource.qualified} "{name}" already exists', "AlreadyExists",
                     details=object_details(resource, name))


def modified(resource, name: str) -> KubeError:
    """A stale `resourceVersion` precondition, as optimistic concurrency reports it."""
    return KubeError(409, f'Operation cannot be fulfilled on {resource.qualified} "{name}": the '
                          "object has been modified; please apply your changes to the latest "
                          "version and try again", details=object_details(resource, name))


def invalid(kind: str, name: str, causes: list[dict], group: str = "") -> KubeError:
    """422 with one cause per bad field, worded like the server's field errors."""
    listing = ", ".join(f'{c["field"]}: {c["message"]}' for c in causes)
    details = {"name": name, "kind": kind, "causes": causes}
    if group:
        details["group"] = group
    qualified = f"{kind}.{group}" if group else kind
    return KubeError(422, f'{qualified} "{name}" is invalid: {listing}', details=details)


def cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict:
    return {"reason": reason, "message": message, "field": field}
