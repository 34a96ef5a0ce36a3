"""A Kubernetes API client for a ClusterBinding, with credentials fetched when an activity runs.

Credentials never enter orchestration state: an `existing` binding names the app setting
that holds the kubeconfig, an `azure` binding names the AKS cluster whose user credentials
ARM hands out. The kubeconfig lives only inside the returned client; errors about it never
quote it, since YAML errors would show the line (and the token on it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from kubernetes.client import ApiClient
from kubernetes.config import new_client_from_config_dict
from kubernetes.config.config_exception import ConfigException

from control_plane.settings import SETTINGS, setting


def api_client_for(cluster: Mapping[str, Any], env: Mapping[str, str], *, credential=None,
                   **arm_options: Any) -> ApiClient:
    """`credential` (default: DefaultAzureCredential) and `arm_options` (e.g. a transport) are for `azure`."""
    target = cluster.get("target")
    if target == "existing":
        name = cluster["kubeconfig_setting"]
        return _client(_kubeconfig_setting(name, env), f"the kubeconfig in the app setting {name}")
    if target == "azure":
        where = f"the user credentials of AKS cluster {cluster['resource_group']}/{cluster['cluster_name']}"
        return _client(_aks_user_kubeconfig(cluster, credential, arm_options), where)
    raise ValueError(f"cluster target {target!r} is not a Kubernetes target: expected 'azure' or 'existing'")


def _kubeconfig_setting(name: str, env: Mapping[str, str]) -> str:
    if name not in SETTINGS:  # a binding may only point at this app's own settings, not at any variable
        raise ValueError(f"kubeconfig_setting {name!r} is not an app setting of ModelOps")
    text = setting(name, env)
    if not text.strip():
        raise ValueError(f"the app setting {name} is empty: set it to the cluster's kubeconfig")
    return text


def _aks_user_kubeconfig(cluster: Mapping[str, Any], credential, arm_options: dict) -> str:
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.containerservice import ContainerServiceClient

    with ContainerServiceClient(credential or DefaultAzureCredential(), cluster["subscription_id"],
                                **arm_options) as aks:
        found = aks.managed_clusters.list_cluster_user_credentials(cluster["resource_group"], cluster["cluster_name"])
    if not found.kubeconfigs:
        raise ValueError(f"AKS returned no kubeconfig for {cluster['resource_group']}/{cluster['cluster_name']}")
    return bytes(found.kubeconfigs[0].value).decode()


def _client(text: str, where: str) -> ApiClient:
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError(f"{where} is not YAML") from None
    if not isinstance(config, dict):
        raise ValueError(f"{where} is not a kubeconfig (a YAML mapping)")
    try:
        return new_client_from_config_dict(config)
    except ConfigException as error:  # names the missing key or entry, never a value
        raise ValueError(f"{where} is not a usable kubeconfig: {error}") from None
