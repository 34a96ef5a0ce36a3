"""Names and ids that must be valid everywhere they travel.

A run id is a Durable instance id, a Kubernetes label value, a results folder
and — behind `run-` — a namespace, so it is a DNS-1123 label of at most 59
characters.
Azure resource names follow docs/provisioning.md and are checked before any request.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime, timezone

RUN_ID_MAX = 59  # "run-" + run id is still a DNS-1123 label
_RUN_ID = re.compile(rf"^[a-z0-9](?:[a-z0-9-]{{0,{RUN_ID_MAX - 2}}}[a-z0-9])?$")


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise ValueError(
            f"invalid run id {run_id!r}: lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit, at most {RUN_ID_MAX} characters"
        )
    return run_id


def new_run_id(name: str, now: datetime | None = None) -> str:
    """``<name>-<yymmddhhmmss>-<4 hex>``: sortable by start time, unique enough to not collide."""
    now = now or datetime.now(timezone.utc)
    return check_run_id(f"{name}-{now:%y%m%d%H%M%S}-{secrets.token_hex(2)}")


# Azure names: checked here, before any request, so a bad name fails with the rule it breaks
# instead of an ARM 400 halfway through provisioning.
_RESOURCE_GROUP = re.compile(r"[\w\-.()]{0,89}[\w\-()]")  # \w: Azure allows Unicode letters and digits
_REGISTRY = re.compile(r"[a-zA-Z0-9]{5,50}")
_CLUSTER = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?")
_DNS_PREFIX = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,52}[a-zA-Z0-9])?")
_IDENTITY = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}")
_CREDENTIAL = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}")  # the pattern of the msi REST spec
# A fixed namespace: the same scope, principal and role give the same assignment name on every retry.
_ROLE_ASSIGNMENTS = uuid.uuid5(uuid.NAMESPACE_URL, "https://modelops/role-assignments")


def _checked(name: str, pattern: re.Pattern[str], what: str, rule: str) -> str:
    """`name` if it matches `pattern` whole, else a ValueError naming `what` and the `rule` it breaks."""
    if not pattern.fullmatch(name):
        raise ValueError(f"invalid {what} {name!r}: {rule}")
    return name


def check_resource_group_name(name: str) -> str:
    rule = "1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'"
    return _checked(name, _RESOURCE_GROUP, "resource group name", rule)


def check_registry_name(name: str) -> str:
    return _checked(name, _REGISTRY, "container registry name", "5-50 letters and digits only (no '-' or '_')")


def check_cluster_name(name: str) -> str:
    rule = "1-63 letters, digits, '-' or '_', starting and ending with a letter or digit"
    return _checked(name, _CLUSTER, "AKS cluster name", rule)


def check_dns_prefix(prefix: str) -> str:
    rule = "1-54 letters, digits or '-', starting and ending with a letter or digit"
    return _checked(prefix, _DNS_PREFIX, "AKS DNS prefix", rule)


def check_identity_name(name: str) -> str:
    rule = "3-128 letters, digits, '-' or '_', starting with a letter or digit"
    return _checked(name, _IDENTITY, "managed identity name", rule)


def check_credential_name(name: str) -> str:
    rule = "3-120 letters, digits, '-' or '_', starting with a letter or digit"
    return _checked(name, _CREDENTIAL, "federated credential name", rule)


def resource_group_name(env: str, username: str) -> str:
    """``modelops-<env>-rg-<username>``: one group per environment and person."""
    return check_resource_group_name(f"modelops-{env}-rg-{username}")


def registry_name(env: str, username: str) -> str:
    """``modelops<env><username>`` with only letters and digits kept (registry names allow no '-');
    registry names are global DNS names, so the person is part of it."""
    return check_registry_name(re.sub(r"[^a-z0-9]", "", f"modelops{env}{username}".lower()))


def cluster_name(env: str) -> str:
    """``modelops-<env>-aks``: unique within its resource group, which already names the person."""
    return check_cluster_name(f"modelops-{env}-aks")


def identity_name(env: str) -> str:
    """``modelops-<env>-id``: the environment's workload identity, in the environment's resource group."""
    return check_identity_name(f"modelops-{env}-id")


def credential_name(namespace: str, service_account: str) -> str:
    """One federated credential per Kubernetes service account, named for it, so a repeat PUTs the same one."""
    return check_credential_name(f"{namespace}-{service_account}")


def registry_id(subscription_id: str, resource_group: str, name: str) -> str:
    """The ARM id of a registry: the scope its AcrPull grant is made at."""
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{check_resource_group_name(resource_group)}"
        f"/providers/Microsoft.ContainerRegistry/registries/{check_registry_name(name)}"
    )


def role_assignment_name(scope: str, principal_id: str, role_definition_id: str) -> str:
    """A UUID fixed by what is granted to whom where, so a retried grant never makes a second assignment.

    ARM ids are case-insensitive, so case does not change the name.
    """
    key = "|".join(part.lower() for part in (scope, principal_id, role_definition_id))
    return str(uuid.uuid5(_ROLE_ASSIGNMENTS, key))
