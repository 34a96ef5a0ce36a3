"""A Kubernetes API client for a ClusterBinding, with credentials fetched when an activity runs.

Credentials never enter orchestration state: an `existing` binding names the app setting
that holds the kubeconfig, an `azure` binding names the AKS cluster. AKS clusters have no
long-lived credential (local accounts are off): the user kubeconfig ARM hands out gives only
the server and its CA, and the client carries an Entra ID token for the AKS server audience
from `DefaultAzureCredential` (the app's identity), as kubelogin would fetch it, without
kubelogin. An `existing` kubeconfig whose user has no static credential (kubelogin's exec
plugin, as `az aks get-credentials` writes for Entra clusters) is served the same way.
Kubeconfigs live only inside the returned client; errors about them never quote them, since
YAML errors would show the line (and the token on it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from kubernetes.client import ApiClient
from kubernetes.config import new_client_from_config_dict
from kubernetes.config.config_exception import ConfigException

from control_plane.settings import SETTINGS, setting

#: The Entra application id of the AKS API server, the audience of every AKS cluster's tokens.
AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
_STATIC = ("token", "client-certificate-data", "client-certificate", "username", "tokenFile")


def api_client_for(cluster: Mapping[str, Any], env: Mapping[str, str], *, credential=None,
                   **arm_options: Any) -> ApiClient:
    """`credential` (default: DefaultAzureCredential) and `arm_options` (e.g. a transport) are for `azure`."""
    target = cluster.get("target")
    if target == "existing":
        name = cluster["kubeconfig_setting"]
        return _client(_kubeconfig_setting(name, env), f"the kubeconfig in the app setting {name}", credential)
    if target == "azure":
        where = f"the user kubeconfig of AKS cluster {cluster['resource_group']}/{cluster['cluster_name']}"
        return _client(_aks_user_kubeconfig(cluster, credential, arm_options), where, credential, entra_only=True)
    raise ValueError(f"cluster target {target!r} is not a Kubernetes target: expected 'azure' or 'existing'")


def _kubeconfig_setting(name: str, env: Mapping[str, str]) -> str:
    if name not in SETTINGS:  # a binding may only point at this app's own settings, not at any variable
        raise ValueError(f"kubeconfig_setting {name!r} is not an app setting of ModelOps")
    text = setting(name, env)
    if not text.strip():
        raise ValueError(f"the app setting {name} is empty: set it to the cluster's kubeconfig")
    return text


def _credential(credential):
    if credential is not None:
        return credential
    from control_plane.azure.clients import default_credential

    return default_credential()


def _aks_user_kubeconfig(cluster: Mapping[str, Any], credential, arm_options: dict) -> str:
    """The cluster's user kubeconfig: with Entra ID integration it holds the server and CA, no secret."""
    from azure.mgmt.containerservice import ContainerServiceClient

    with ContainerServiceClient(_credential(credential), cluster["subscription_id"], **arm_options) as aks:
        found = aks.managed_clusters.list_cluster_user_credentials(cluster["resource_group"], cluster["cluster_name"])
    if not found.kubeconfigs:
        raise ValueError(f"AKS returned no kubeconfig for {cluster['resource_group']}/{cluster['cluster_name']}")
    return bytes(found.kubeconfigs[0].value).decode()


def _client(text: str, where: str, credential, entra_only: bool = False) -> ApiClient:
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError(f"{where} is not YAML") from None
    if not isinstance(config, dict):
        raise ValueError(f"{where} is not a kubeconfig (a YAML mapping)")
    try:
        user = _current_user(config)
        audience = _entra_audience(user)
        if audience is None and entra_only:
            raise ValueError(f"{where} is not for Entra ID (kubelogin): ModelOps clusters have local accounts "
                             "disabled and Entra ID integration on")
        if audience is not None:  # the exec plugin cannot run here: its token is fetched instead
            token = _credential(credential).get_token(f"{audience}/.default").token
            user.clear()
            user["token"] = token
        return new_client_from_config_dict(config)
    except ConfigException as error:  # names the missing key or entry, never a value
        raise ValueError(f"{where} is not a usable kubeconfig: {error}") from None


def _current_user(config: dict) -> dict:
    """The mapping of credentials the current context's user holds (edited in place)."""
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or [] if isinstance(c, dict)}
    context = contexts.get(config.get("current-context"))
    if context is None:
        raise ConfigException("the current-context is not among the contexts")
    users = {u.get("name"): u for u in config.get("users") or [] if isinstance(u, dict)}
    entry = users.get(context.get("user"))
    if entry is None:
        raise ConfigException("the current context's user is not among the users")
    entry["user"] = entry.get("user") or {}
    return entry["user"]


def _entra_audience(user: dict) -> str | None:
    """The audience kubelogin's exec plugin would ask a token for (its --server-id), else None."""
    plugin = user.get("exec") or {}
    if any(user.get(key) for key in _STATIC) or str(plugin.get("command", "")).rsplit("/", 1)[-1] != "kubelogin":
        return None
    args = [str(arg) for arg in plugin.get("args") or []]
    return args[args.index("--server-id") + 1] if "--server-id" in args[:-1] else AKS_SERVER_APP_ID
