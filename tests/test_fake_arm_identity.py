"""The fake ARM's managed identities and federated credentials, through the real azure-mgmt-msi client."""

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource.resources import ResourceManagementClient

from tests.fakes.arm import ARM_SCOPE, SUBSCRIPTION_ID, TENANT_ID, FakeArm, FakeCredential, token_for
from tests.fakes.arm_identity import MAX_CREDENTIALS

FAST = {"polling_interval": 0, "retry_backoff_factor": 0}
ISSUER = "https://westeurope.oic.prod-aks.azure.com/tenant/issuer/"
EXCHANGE = ["api://AzureADTokenExchange"]


def claims(subject: str = "system:serviceaccount:ns:sa", issuer: str = ISSUER, audiences=EXCHANGE) -> dict:
    return {"properties": {"issuer": issuer, "subject": subject, "audiences": audiences}}


@pytest.fixture
def arm() -> FakeArm:
    return FakeArm()


@pytest.fixture
def msi(arm) -> ManagedServiceIdentityClient:
    resources = ResourceManagementClient(FakeCredential(), SUBSCRIPTION_ID, transport=arm, **FAST)
    resources.resource_groups.create_or_update("rg", {"location": "westeurope"})
    return ManagedServiceIdentityClient(FakeCredential(), SUBSCRIPTION_ID, transport=arm, **FAST)


def test_an_identity_is_created_once_and_keeps_its_ids(arm, msi):
    made = msi.user_assigned_identities.create_or_update("rg", "env-id", {"location": "West Europe"})
    again = msi.user_assigned_identities.create_or_update("rg", "env-id", {"location": "westeurope", "tags": {"a": "b"}})
    assert (made.principal_id, made.client_id, made.tenant_id) == (again.principal_id, again.client_id, TENANT_ID)
    assert made.id == f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg/providers/" \
                      "Microsoft.ManagedIdentity/userAssignedIdentities/env-id"
    assert msi.user_assigned_identities.get("rg", "env-id").tags == {"a": "b"}
    assert [r.method for r in arm.requests[-3:]] == ["PUT", "PUT", "GET"]
    assert all("api-version=2024-11-30" in r.url for r in arm.requests[-3:])


@pytest.mark.parametrize(("name", "body", "code"), [
    ("ab", {"location": "westeurope"}, "InvalidResourceName"),
    ("-id", {"location": "westeurope"}, "InvalidResourceName"),
    ("env-id", {}, "LocationRequired"),
])  # fmt: skip
def test_identities_refuse_bad_names_and_bodies(msi, name, body, code):
    with pytest.raises(HttpResponseError) as refused:
        msi.user_assigned_identities.create_or_update("rg", name, body)
    assert refused.value.error.code == code


def test_a_missing_identity_is_404_and_deleting_it_takes_its_credentials(arm, msi):
    with pytest.raises(ResourceNotFoundError):
        msi.user_assigned_identities.get("rg", "env-id")
    with pytest.raises(ResourceNotFoundError) as orphan:
        msi.federated_identity_credentials.create_or_update("rg", "env-id", "ns-sa", claims())
    assert orphan.value.error.code == "ParentResourceNotFound"
    msi.user_assigned_identities.create_or_update("rg", "env-id", {"location": "westeurope"})
    msi.federated_identity_credentials.create_or_update("rg", "env-id", "ns-sa", claims())
    msi.user_assigned_identities.delete("rg", "env-id")
    msi.user_assigned_identities.delete("rg", "env-id")  # 204: already gone
    assert [key for key in arm.state.resources if "managedidentity" in key] == []


def test_credentials_are_put_idempotently_listed_and_deleted(msi):
    msi.user_assigned_identities.create_or_update("rg", "env-id", {"location": "westeurope"})
    made = msi.federated_identity_credentials.create_or_update("rg", "env-id", "ns-sa", claims())
    msi.federated_identity_credentials.create_or_update("rg", "env-id", "ns-sa", claims())
    assert (made.issuer, made.subject, made.audiences) == (ISSUER, "system:serviceaccount:ns:sa", EXCHANGE)
    assert [c.name for c in msi.federated_identity_credentials.list("rg", "env-id")] == ["ns-sa"]
    msi.federated_identity_credentials.delete("rg", "env-id", "ns-sa")
    msi.federated_identity_credentials.delete("rg", "env-id", "ns-sa")  # 204
    with pytest.raises(ResourceNotFoundError):
        msi.federated_identity_credentials.get("rg", "env-id", "ns-sa")


@pytest.mark.parametrize("body", [
    claims(issuer="http://insecure.example/"),
    claims(issuer="not a url"),
    claims(subject=""),
    claims(subject="s" * 601),
    claims(audiences=[]),
    claims(audiences=["api://AzureADTokenExchange", "other"]),
    {"properties": {"issuer": ISSUER, "subject": "system:serviceaccount:ns:sa"}},
])  # fmt: skip
def test_credentials_refuse_claims_entra_refuses(msi, body):
    msi.user_assigned_identities.create_or_update("rg", "env-id", {"location": "westeurope"})
    with pytest.raises(HttpResponseError) as refused:
        msi.federated_identity_credentials.create_or_update("rg", "env-id", "ns-sa", body)
    assert refused.value.status_code == 400


def test_a_credential_name_outside_the_spec_pattern_is_refused_by_arm(arm, msi):
    msi.user_assigned_identities.create_or_update("rg", "env-id", {"location": "westeurope"})
    # The SDK checks the pattern before sending; ARM refuses it too when sent by hand.
    with pytest.raises(HttpResponseError):
        msi.federated_identity_credentials.create_or_update("rg", "env-id", "-x", claims())
    path = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
            "userAssignedIdentities/env-id/federatedIdentityCredentials/-x")
    status, _, body = arm._answer("PUT", f"https://management.azure.com{path}?api-version=2024-11-30",
                                  {"Authorization": f"Bearer {token_for(ARM_SCOPE)}", "Content-Type": "application/json"},
                                  b'{"properties": {}}')
    assert (status, b"InvalidResourceName" in body) == (400, True)


def test_an_issuer_and_subject_pair_is_unique_on_an_identity(msi):
    msi.user_assigned_identities.create_or_update("rg", "env-id", {"location": "westeurope"})
    msi.federated_identity_credentials.create_or_update("rg", "env-id", "one", claims())
    with pytest.raises(HttpResponseError) as refused:
        msi.federated_identity_credentials.create_or_update("rg", "env-id", "two", claims())
    assert refused.value.status_code == 400 and "already exists" in refused.value.message


def test_an_identity_holds_at_most_20_credentials(msi):
    msi.user_assigned_identities.create_or_update("rg", "env-id", {"location": "westeurope"})
    for i in range(MAX_CREDENTIALS):
        msi.federated_identity_credentials.create_or_update("rg", "env-id", f"run-{i}", claims(f"system:serviceaccount:run-{i}:runner"))
    msi.federated_identity_credentials.create_or_update("rg", "env-id", "run-0", claims("system:serviceaccount:run-0:runner"))
    with pytest.raises(HttpResponseError) as refused:
        msi.federated_identity_credentials.create_or_update("rg", "env-id", "run-20", claims("system:serviceaccount:run-20:runner"))
    assert refused.value.status_code == 400 and "at most 20" in refused.value.message
    msi.federated_identity_credentials.delete("rg", "env-id", "run-0")
    msi.federated_identity_credentials.create_or_update("rg", "env-id", "run-20", claims("system:serviceaccount:run-20:runner"))
