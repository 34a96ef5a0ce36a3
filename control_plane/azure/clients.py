"""The five ARM management clients ModelOps uses, built for one subscription.

In Azure the credential is the Function App's managed identity: `DefaultAzureCredential`
reads `AZURE_CLIENT_ID` itself to pick the user-assigned one. Tests pass their own
credential and a `transport` that answers like ARM.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import TokenCredential
from azure.identity import DefaultAzureCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource.resources import ResourceManagementClient


@dataclass(frozen=True)
class AzureClients:
    """One subscription's clients; use as a context manager so their connections close."""

    resources: ResourceManagementClient
    containers: ContainerServiceClient
    registries: ContainerRegistryManagementClient
    authorization: AuthorizationManagementClient
    identities: ManagedServiceIdentityClient

    def __enter__(self) -> AzureClients:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for client in (self.resources, self.containers, self.registries, self.authorization, self.identities):
            client.close()


@functools.cache
def default_credential() -> DefaultAzureCredential:
    """One per process, so its token cache serves every activity instead of asking for a token each time."""
    return DefaultAzureCredential()


def azure_clients(subscription_id: str, credential: TokenCredential | None = None, **options: Any) -> AzureClients:
    """`options` go to every client: azure-core settings such as `transport`, `polling_interval`, `retry_total`."""
    credential = credential or default_credential()
    return AzureClients(
        resources=ResourceManagementClient(credential, subscription_id, **options),
        containers=ContainerServiceClient(credential, subscription_id, **options),
        registries=ContainerRegistryManagementClient(credential, subscription_id, **options),
        authorization=AuthorizationManagementClient(credential, subscription_id, **options),
        identities=ManagedServiceIdentityClient(credential, subscription_id, **options),
    )
