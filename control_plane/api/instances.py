"""Reading the task hub: which instances are live, and listing them page by page.

The SDK's `get_status_all()` reads the extension's first page only (100 instances) and
drops its continuation token, so listing asks the extension's HTTP API itself: `top` per
page, the token in the `x-ms-continuation-token` header both ways.
"""

from __future__ import annotations

from typing import Any, AsyncIterator
from urllib.parse import urlencode

import aiohttp
import azure.durable_functions as df
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

S = df.OrchestrationRuntimeStatus
# ContinuedAsNew is the moment between two executions of one live instance.
LIVE = frozenset({S.Pending, S.Running, S.ContinuedAsNew, S.Suspended})
TOKEN_HEADER = "x-ms-continuation-token"
PAGE = 100  # the extension's default page size


async def page(client: df.DurableOrchestrationClient, token: str | None, top: int = PAGE,
               ) -> tuple[list[DurableOrchestrationStatus], str | None]:  # fmt: skip
    """One page of instances (no inputs) and the token of the next, None after the last."""
    url = f"{client._orchestration_bindings.rpc_base_url}instances/?" + urlencode({"top": top, "showInput": "false"})
    get = getattr(client, "get_page", _get_page)  # the test double answers in-process
    status, body, next_token = await get(url, token)
    if status != 200 or not isinstance(body, list):
        raise RuntimeError(f"listing instances answered {status}")
    return [DurableOrchestrationStatus.from_json(item) for item in body], next_token or None


async def every(client: df.DurableOrchestrationClient) -> AsyncIterator[DurableOrchestrationStatus]:
    """Every instance of the task hub, following continuation tokens."""
    token: str | None = None
    while True:
        found, token = await page(client, token)
        for status in found:
            yield status
        if token is None:
            return


async def _get_page(url: str, token: str | None) -> tuple[int, Any, str | None]:
    headers = {TOKEN_HEADER: token} if token else {}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers) as response:
            body = await response.json(content_type=None) if response.status == 200 else None
            return response.status, body, response.headers.get(TOKEN_HEADER)
