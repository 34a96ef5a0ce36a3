"""Request bodies within limits: size (413), JSON, nesting depth; never an exception."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from .responses import problem

MAX_BODY = 1024 * 1024  # Event Grid's own limit for a delivery, ample for a run document
MAX_DEPTH = 32


class BodyRejected(Exception):
    """The body cannot be used; `response` says why (problem+json)."""

    def __init__(self, response: func.HttpResponse):
        super().__init__(response.status_code)
        self.response = response


def read_json(req: func.HttpRequest, empty: Any = ...) -> Any:
    """The body as JSON; an empty body is `empty` when given, else an error."""
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY:
        raise BodyRejected(problem(413, "The body is too large", f"at most {MAX_BODY} bytes, not {len(raw)}"))
    if not raw.strip() and empty is not ...:
        return empty
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BodyRejected(problem(400, "The body is nested too deeply", f"at most {MAX_DEPTH} levels")) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise BodyRejected(problem(400, "The body is not JSON", str(exc))) from None
    if depth(value) > MAX_DEPTH:
        raise BodyRejected(problem(400, "The body is nested too deeply", f"at most {MAX_DEPTH} levels"))
    return value


def depth(value: Any) -> int:
    """How deeply arrays and objects nest (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest
