"""The workload identity activities: the environment's identity and the federated credentials that let
one Kubernetes service account act as it, with the real azure-mgmt-msi client against the fake ARM."""

from tests.fakes.arm_identity import MAX_CREDENTIALS
from tests import test_azure_activities
from tests.test_azure_activities import (
    CLUSTER, CLUSTER_ID, GROUP, RG, SUB, begin_succeeded_cluster, call, ensure_group, failure, writes,
)  # fmt: skip

arm = test_azure_activities.arm  # the fixture: a fake ARM the activities' clients talk to

IDENTITY = {**GROUP, "identity_name": "modelops-dev-id"}
IDENTITY_ID = f"{SUB}/resourceGroups/{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/modelops-dev-id"
WORKERS = {**CLUSTER, "identity_name": "modelops-dev-id", "namespace": "modelops-dev", "service_account": "modelops-workspace"}
NONE = {"identity_id": None, "client_id": None, "principal_id": None}


def credentials(arm) -> dict[str, dict]:
    prefix = IDENTITY_ID.lower() + "/federatedidentitycredentials/"
    return {r["name"]: r["properties"] for key, r in arm.state.resources.items() if key.startswith(prefix)}


def test_the_identity_is_created_once_and_handed_on_as_references(arm):
    ensure_group()
    assert call("azure_identity_state", IDENTITY) == NONE
    made = call("azure_ensure_identity", {**IDENTITY, "location": "westeurope"})
    again = call("azure_ensure_identity", {**IDENTITY, "location": "westeurope"})
    stored = arm.resource(IDENTITY_ID)
    assert made == again == call("azure_identity_state", IDENTITY) == {
        "identity_id": stored["id"], "client_id": stored["properties"]["clientId"],
        "principal_id": stored["properties"]["principalId"]}  # fmt: skip
    assert stored["tags"] == {"managed-by": "modelops"}
    assert [p for p in writes(arm) if "ManagedIdentity" in p] == [IDENTITY_ID]  # looked before creating
    assert call("azure_delete_identity", IDENTITY) == {"deleted": True}
    assert call("azure_delete_identity", IDENTITY) == {"deleted": False}
    assert call("azure_identity_state", IDENTITY) == NONE


def test_a_service_account_is_federated_for_the_clusters_own_issuer(arm):
    begin_succeeded_cluster()
    call("azure_ensure_identity", {**IDENTITY, "location": "westeurope"})
    issuer = arm.resource(CLUSTER_ID)["properties"]["oidcIssuerProfile"]["issuerURL"]
    subject = "system:serviceaccount:modelops-dev:modelops-workspace"

    first = call("azure_federate", WORKERS)
    again = call("azure_federate", WORKERS)

    assert first == again == {"credential": "modelops-dev-modelops-workspace", "issuer": issuer, "subject": subject}
    assert credentials(arm) == {"modelops-dev-modelops-workspace": {
        "issuer": issuer, "subject": subject, "audiences": ["api://AzureADTokenExchange"]}}  # fmt: skip
    unfederate = {k: v for k, v in WORKERS.items() if k != "cluster_name"}
    assert call("azure_unfederate", unfederate) == {"deleted": True}
    assert call("azure_unfederate", unfederate) == {"deleted": False}
    assert credentials(arm) == {}
    call("azure_federate", WORKERS)
    call("azure_delete_identity", IDENTITY)  # its credentials go with it
    assert credentials(arm) == {} and call("azure_unfederate", unfederate) == {"deleted": False}


def test_federation_needs_the_identity_and_an_issuer(arm):
    begin_succeeded_cluster()
    reason = failure("azure_federate", WORKERS)
    assert "managed identity 'modelops-dev-id'" in reason and "ParentResourceNotFound" in reason
    call("azure_ensure_identity", {**IDENTITY, "location": "westeurope"})
    arm.state.peek(CLUSTER_ID)["properties"]["oidcIssuerProfile"] = {"enabled": False}
    assert "the cluster has no OIDC issuer URL" in failure("azure_federate", WORKERS)


def test_past_20_credentials_the_federation_fails_naming_the_limit(arm):
    begin_succeeded_cluster()
    call("azure_ensure_identity", {**IDENTITY, "location": "westeurope"})
    for i in range(MAX_CREDENTIALS):
        call("azure_federate", {**WORKERS, "namespace": f"run-r{i}", "service_account": "runner"})
    reason = failure("azure_federate", {**WORKERS, "namespace": "run-r20", "service_account": "runner"})
    assert "at most 20" in reason and "federating run-r20/runner" in reason
    assert len(credentials(arm)) == MAX_CREDENTIALS
