"""Every app setting the Function App reads, in one place.

The Bicep template and `local.settings.sample.json` must define exactly these
(a test checks both ways), so a setting is never read without being deployed,
nor deployed without being read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# The Function App's folder (where function_app.py is): relative settings resolve from here,
# and the local target's processes start here.
APP_ROOT = Path(__file__).resolve().parents[1]

SETTINGS: dict[str, tuple[str, str]] = {
    # name: (default, what it is for)
    "MODELOPS_RESULTS_ROOT": ("runs", "where run results go: a folder, or a blob container URL; /<run id> is added"),
    "MODELOPS_BUNDLE_STORE": ("", "where model bundles are stored (a folder or blob URL); empty: <MODELOPS_RESULTS_ROOT>/_bundles"),
    "MODELOPS_RUN_DEADLINE_HOURS": ("48", "a run still going after this long is stopped and failed"),
    "MODELOPS_HEARTBEAT_SECONDS": ("120", "with no progress event for this long, the runner is checked"),
    "MODELOPS_EVENTS_URL": ("", "where runners send progress events (this app's /api/events, or an Event Grid topic)"),
    "MODELOPS_LOCAL_STATE_DIR": ("", "local target: the folder for process state and logs (default: a temp folder)"),
    "MODELOPS_SUBSCRIPTION_ID": ("", "azure target: the subscription environments are created in"),
    "MODELOPS_LOCATION": ("westeurope", "azure target: the region of new resource groups, registries and clusters"),
    "MODELOPS_USERNAME": ("modelops", "azure target: resource groups are named modelops-<env>-rg-<username>"),
    "MODELOPS_KUBERNETES_VERSION": ("", "azure target: pin new clusters to this AKS version (1.34 or 1.34.2); "
                                    "empty for the newest the region supports"),
    "MODELOPS_RUNNER_IMAGE": ("", "azure/existing targets: the image of the runner and the Dask pods"),
    "MODELOPS_RESULTS_CONTAINER_ID": ("", "azure target: resource id of the results blob container (runners may write)"),
    "MODELOPS_EVENTGRID_TOPIC_ID": ("", "azure target: resource id of the progress topic (runners may publish)"),
    "MODELOPS_EXISTING_KUBECONFIG": ("", "existing target: the cluster's kubeconfig (in Azure, a Key Vault reference)"),
    "MODELOPS_EXISTING_CLIENT_ID": ("", "existing target: client id of a workload identity federated to the "
                                    "workspace's and runs' service accounts; empty: pods run without one"),
    "MODELOPS_IMAGE_PULL_SECRET": ("", "existing target: a registry Secret in the workspace namespace, copied to runs"),
}

# Read by the platform or the Azure SDK, not by this code; defined by the deployment all the same.
PLATFORM_SETTINGS = (
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "AZURE_CLIENT_ID",
)


def setting(name: str, env: Mapping[str, str] | None = None) -> str:
    """The value of a known setting (its default when unset); unknown names are a bug."""
    default, _ = SETTINGS[name]
    return (os.environ if env is None else env).get(name) or default
