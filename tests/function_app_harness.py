"""The real Function App driven in-process: HTTP functions through the replay driver's client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.functions as func

from tests.durable import ReplayDriver


class AppHarness:
    """Calls the app's HTTP functions as the Functions host would, and runs its orchestrations."""

    def __init__(self) -> None:
        from function_app import app

        self.driver = ReplayDriver(app)

    def http(self, function: str, method: str, path: str, body: Any = None, params=None, route=None):
        data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
        request = func.HttpRequest(
            method=method,
            url=f"http://localhost:7071{path}",
            body=data,
            params=params or {},
            route_params=route or {},
            headers={"content-type": "application/json"},
        )
        response = asyncio.run(self.driver.call_client(function, req=request))
        text = response.get_body().decode()
        return response.status_code, (json.loads(text) if text else None), response
