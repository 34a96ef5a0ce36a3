"""A durable-client double: the SDK's own DurableOrchestrationClient, answered by the driver.

Only the three HTTP helpers (and the paging GET the SDK lacks) are swapped, so start_new, get_status, raise_event, terminate,
purge_instance_history and create_check_status_response keep the real client's messages,
parsing and quirks (for instance: terminating a finished instance is silently accepted).
"""
from typing import Any

from azure.durable_functions import DurableOrchestrationClient

from .http_api import ExtensionHttpApi, client_binding_json


class DurableClientDouble(DurableOrchestrationClient):
    def __init__(self, driver: Any):
        super().__init__(client_binding_json())
        api = ExtensionHttpApi(driver)
        self._post_async_request = api.post
        self._get_async_request = api.get
        self._delete_async_request = api.delete
        self.get_page = api.get_page  # control_plane.api.instances pages with the token header
        self.driver = driver
