"""Both fakes wired for the azure target: a fake ARM that authorizes each request against the app's
rights in the Bicep, whose AKS clusters lead to a fake Kubernetes API taking Entra tokens, and
controllers that make pods ready. Used by the end-to-end tests of the azure target."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest
import yaml

from control_plane.activities import azure as azure_activities
from control_plane.activities import kubernetes as kubernetes_activities
from control_plane.azure.clients import azure_clients
from control_plane.k8s import apply as k8s_apply
from control_plane.k8s.client import AKS_SERVER_APP_ID, api_client_for
from tests.fakes.arm import SUBSCRIPTION_ID, FakeArm, FakeCredential, token_for
from tests.fakes.arm_authz import AppRights
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_api_rbac import operator_data_actions

FAST = {"polling_interval": 0, "retry_backoff_factor": 0}
CONTROL_PLANE = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/modelops-control-plane/providers"
RESULTS_CONTAINER = f"{CONTROL_PLANE}/Microsoft.Storage/storageAccounts/modelopsst/blobServices/default/containers/results"
TOPIC = f"{CONTROL_PLANE}/Microsoft.EventGrid/topics/modelops-progress"


def bicep_rights() -> AppRights:
    """The app identity's rights as the Bicep grants them, on this test's control plane resources."""
    return AppRights.from_bicep(SUBSCRIPTION_ID, {"results": RESULTS_CONTAINER, "topic": TOPIC})


@contextmanager
def azure_clouds(monkeypatch: pytest.MonkeyPatch, rights: AppRights | None = None) -> Iterator[tuple[FakeArm, FakeKubeApi]]:
    # Entra tokens only, authorized by the app's AKS role in the Bicep (Azure RBAC for Kubernetes).
    with FakeKubeApi(token=token_for(f"{AKS_SERVER_APP_ID}/.default"), data_actions=operator_data_actions()) as kube:
        arm = FakeArm(lro_polls=2, rights=rights or bicep_rights())
        arm.kube.server = kube.url
        arm.seed(RESULTS_CONTAINER, "Microsoft.Storage/storageAccounts/blobServices/containers")
        arm.seed(TOPIC, "Microsoft.EventGrid/topics")
        monkeypatch.setattr(azure_activities, "clients_factory",
                            lambda sub: azure_clients(sub, FakeCredential(), transport=arm, **FAST))  # fmt: skip
        monkeypatch.setattr(kubernetes_activities, "client_factory",
                            lambda cluster: api_client_for(cluster, os.environ, credential=FakeCredential(),
                                                           transport=arm, **FAST))  # fmt: skip
        monkeypatch.setattr(k8s_apply, "POLL_SECONDS", 0.02)
        for name, value in {
            "MODELOPS_SUBSCRIPTION_ID": SUBSCRIPTION_ID, "MODELOPS_USERNAME": "ada",
            "MODELOPS_RUNNER_IMAGE": "modelopsdevada.azurecr.io/modelops-runner:test",
            "MODELOPS_RESULTS_ROOT": "https://results.blob.core.windows.net/results",
            "MODELOPS_EVENTS_URL": "https://topic.westeurope-1.eventgrid.azure.net/api/events",
            "MODELOPS_RESULTS_CONTAINER_ID": RESULTS_CONTAINER, "MODELOPS_EVENTGRID_TOPIC_ID": TOPIC,
            "MODELOPS_EXISTING_KUBECONFIG": yaml.safe_dump(entra_kubeconfig(kube)),
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        stop = threading.Event()
        thread = threading.Thread(target=_controllers, args=(kube, stop), daemon=True)
        thread.start()
        try:
            yield arm, kube
        finally:
            stop.set()
            thread.join()


def entra_kubeconfig(kube: FakeKubeApi) -> dict:
    """An existing cluster's kubeconfig as `az aks get-credentials` writes it for Entra ID: kubelogin, no secret."""
    config = kube.kubeconfig()
    config["users"][0]["user"] = {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin",
        "args": ["get-token", "--server-id", AKS_SERVER_APP_ID, "--login", "azurecli"]}}  # fmt: skip
    return config


def _controllers(kube: FakeKubeApi, stop: threading.Event) -> None:
    """Deployments and StatefulSets become ready; the PostgreSQL init Job succeeds; the runner keeps running."""
    while not stop.wait(0.01):
        for kind in ("Deployment", "StatefulSet", "Job"):
            for obj in kube.objects(kind):
                meta = obj["metadata"]
                if kind == "Job":
                    if meta["name"] != "postgres-init":
                        continue
                    status = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
                else:
                    n = obj["spec"].get("replicas", 1)
                    status = {"observedGeneration": meta["generation"], "replicas": n, "readyReplicas": n,
                              "updatedReplicas": n, "availableReplicas": n}  # fmt: skip
                if obj.get("status") != status:
                    with suppress(KeyError):
                        kube.set_status(kind, meta["namespace"], meta["name"], status)
