"""The real Azure SDK management clients on the strict fake ARM, and an AKS cluster to create, for its tests."""

from tests.fakes.arm import SUBSCRIPTION_ID, FakeArm, FakeCredential

FAST = {"polling_interval": 0, "retry_backoff_factor": 0}
SUB = f"/subscriptions/{SUBSCRIPTION_ID}"


def client(kind, arm: FakeArm, **options):
    return kind(credential=FakeCredential(), subscription_id=SUBSCRIPTION_ID, transport=arm, **(FAST | options))


def status_and_body(pipeline_response, body, headers):
    return pipeline_response.http_response.status_code, body


def cluster_spec(**properties) -> dict:
    pools = [
        {"name": "system", "count": 1, "vmSize": "Standard_D2s_v3", "mode": "System"},
        {"name": "work", "count": 3, "vmSize": "Standard_D4s_v3", "mode": "User"},
    ]
    return {
        "location": "eastus",
        "identity": {"type": "SystemAssigned"},
        "properties": {"dnsPrefix": "calib", "kubernetesVersion": "1.34.2", "agentPoolProfiles": pools, **properties},
    }


def create_cluster(aks, group: str, name: str = "c1"):
    return aks.managed_clusters.begin_create_or_update(group, name, cluster_spec()).result()


def paths(arm: FakeArm, method: str) -> list[str]:
    return [request.path for request in arm.requests if request.method == method]
