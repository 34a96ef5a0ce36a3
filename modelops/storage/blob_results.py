"""Results under a prefix of an Azure Blob Storage container (or Azurite).

Credentials come from the environment, never from the URL: a connection string
in MODELOPS_STORAGE_CONNECTION_STRING (Azurite, local development) or else
DefaultAzureCredential (managed identity, az login). None is logged or returned.
"""

from __future__ import annotations

import os

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ContainerClient

from modelops.storage.results_url import BlobTarget, check_name

CONNECTION_STRING_ENV = "MODELOPS_STORAGE_CONNECTION_STRING"
# The SDK's default retries wait 15 s, 18 s, 24 s; a runner retries itself and then falls back, so fail sooner.
RETRY = {"retry_total": 2, "initial_backoff": 0.5, "increment_base": 2, "connection_timeout": 10}


def container_client(target: BlobTarget) -> ContainerClient:
    """A client for the target's container, authenticated from the environment."""
    connection_string = os.environ.get(CONNECTION_STRING_ENV)
    if not connection_string:
        from azure.identity import DefaultAzureCredential  # slow import, only when needed

        return ContainerClient(target.account_url, target.container,
                               credential=DefaultAzureCredential(), **RETRY)
    client = ContainerClient.from_connection_string(connection_string, target.container, **RETRY)
    endpoint = f"{client.scheme}://{client.primary_hostname}"
    if endpoint.lower() != target.account_url.lower():
        raise ValueError(
            f"{CONNECTION_STRING_ENV} is for {endpoint}, "
            f"but the results location is on {target.account_url}"
        )
    return client


class BlobResults:
    def __init__(self, target: BlobTarget, client: ContainerClient) -> None:
        self.target = target
        self._client = client

    def __str__(self) -> str:
        return self.target.url

    def url_for(self, name: str) -> str:
        return f"{self.target.url}/{check_name(name)}"

    def write_bytes(self, name: str, data: bytes) -> None:
        blob = self._blob_name(name)
        try:
            self._client.upload_blob(blob, data, overwrite=True)
        except ResourceNotFoundError as error:
            if error.error_code != "ContainerNotFound":
                raise
            self._create_container()
            self._client.upload_blob(blob, data, overwrite=True)

    def read_bytes(self, name: str) -> bytes:
        try:
            return self._client.download_blob(self._blob_name(name)).readall()
        except ResourceNotFoundError:
            raise FileNotFoundError(self.url_for(name)) from None

    def exists(self, name: str) -> bool:
        return self._client.get_blob_client(self._blob_name(name)).exists()

    def delete(self, name: str) -> None:
        """Remove one result; a missing one is already gone."""
        try:
            self._client.delete_blob(self._blob_name(name))
        except ResourceNotFoundError:
            pass

    def list(self) -> list[str]:
        prefix = f"{self.target.prefix}/" if self.target.prefix else ""
        try:
            blobs = self._client.list_blobs(name_starts_with=prefix or None)
            return sorted(blob.name[len(prefix):] for blob in blobs)
        except ResourceNotFoundError:
            return []

    def _create_container(self) -> None:
        try:
            self._client.create_container()
        except ResourceExistsError:  # 409: another writer created it first
            pass

    def _blob_name(self, name: str) -> str:
        check_name(name)
        return f"{self.target.prefix}/{name}" if self.target.prefix else name
