"""JSON and problem+json (RFC 9457) responses for the HTTP API."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from modelops.spec import FieldError


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str), status_code=status, mimetype="application/json", headers=headers
    )


def problem(status: int, title: str, detail: str | None = None, errors: list[FieldError] = ()) -> func.HttpResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = [error.to_dict() for error in errors]
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/problem+json")
