"""The resources the fake Kubernetes API serves, and the URL paths the real server uses for them.

Anything not in `RESOURCES` (other kinds, subresources such as `/status` or `/log`,
discovery) is a 404, so code that depends on it fails here instead of passing silently.
"""
from dataclasses import dataclass, field

from .kube_api_errors import KubeError


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    name_rule: str  # "label" (RFC 1123), "dns1035" (RFC 1035 label) or "subdomain" (RFC 1123)
    has_generation: bool = False  # the server bumps metadata.generation on spec changes
    orphans_by_default: bool = False  # batch/v1 Jobs keep their pods unless told otherwise
    # what a new object's status reads as: Go zero values the server always writes; None: no status
    initial_status: dict | None = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`deployments.apps`, `services`: how the server names the resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES = (
    ResourceType("", "v1", "namespaces", "Namespace", False, "label"),
    ResourceType("", "v1", "services", "Service", True, "dns1035"),
    ResourceType("", "v1", "secrets", "Secret", True, "subdomain", initial_status=None),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, "subdomain", initial_status=None),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, "subdomain", initial_status=None),
    ResourceType("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, "subdomain"),
    ResourceType("", "v1", "pods", "Pod", True, "subdomain"),
    ResourceType("apps", "v1", "deployments", "Deployment", True, "subdomain", True),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", True, "subdomain", True,
                 initial_status={"replicas": 0, "availableReplicas": 0}),
    ResourceType("batch", "v1", "jobs", "Job", True, "subdomain", True, True),
)
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_KIND = {r.kind: r for r in RESOURCES}
NAMESPACE = BY_KIND["Namespace"]


def resource_for_kind(kind: str) -> ResourceType:
    """The served resource of a kind, for the Python test controls."""
    if kind not in BY_KIND:
        raise KeyError(f"the fake Kubernetes API does not serve {kind!r}; it serves {sorted(BY_KIND)}")
    return BY_KIND[kind]


@dataclass(frozen=True)
class Route:
    """What a request path addresses: a collection (`name` None) or one object."""
    resource: ResourceType
    namespace: str | None
    name: str | None


def route(path: str) -> Route:
    """Parse `/api/v1/...` or `/apis/<group>/<version>/...`; 404 for anything else."""
    parts = path.strip("/").split("/")
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise unknown_path()
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    resource = BY_PATH.get((group, version, rest[0] if rest else ""))
    if resource is None or len(rest) > 2 or (namespace is not None and not resource.namespaced):
        raise unknown_path()
    name = rest[1] if len(rest) == 2 else None
    if resource.namespaced and namespace is None and name is not None:
        raise unknown_path()
    return Route(resource, namespace, name)


def unknown_path() -> KubeError:
    return KubeError(404, "the server could not find the requested resource")
