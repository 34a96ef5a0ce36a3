"""User-assigned managed identities and their federated identity credentials (Microsoft.ManagedIdentity).

URL shapes, names and bodies as in azure-rest-api-specs (specification/msi, 2024-11-30, what
azure-mgmt-msi as pinned sends). Both are synchronous: a PUT answers 201 when it creates, 200
when it updates. An identity keeps its principal and client ids across PUTs; deleting it
deletes its credentials. Credentials are checked as Entra checks them: an https issuer, a
subject, exactly one audience, the issuer and subject pair unique on the identity, and at most
20 per identity (the 21st is refused).
"""

import re
from typing import Any

from tests.fakes.arm_requests import (
    GROUP,
    Call,
    check_location_unchanged,
    existing,
    group_id,
    require_group,
    require_location,
    require_tags,
    route,
)
from tests.fakes.arm_state import ArmError, Reply, new_guid

NAMESPACE = "Microsoft.ManagedIdentity"
#: What azure-mgmt-msi (as pinned) sends; another version is refused like ARM does.
API_VERSIONS = {"2024-11-30"}
_VERSION_ERROR = "NoRegisteredProviderFound"
_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
_CREDENTIAL_TYPE = f"{_TYPE}/federatedIdentityCredentials"
_IDENTITY = GROUP + r"/providers/Microsoft[.]ManagedIdentity/userAssignedIdentities/(?P<name>[^/]+)"
_CREDENTIALS = _IDENTITY + r"/federatedIdentityCredentials"
_IDENTITY_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}")
_CREDENTIAL_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}")  # the spec's path parameter pattern
MAX_CREDENTIALS = 20
_MAX_CLAIM = 600


def _identity_id(call: Call) -> str:
    return f"{group_id(call)}/providers/{_TYPE}/{call.params['name']}"


def create_identity(call: Call) -> Reply:
    name = call.params["name"]
    if not _IDENTITY_NAME.fullmatch(name):
        raise ArmError(400, "InvalidResourceName", f"Resource name '{name}' is invalid: 3-128 letters, digits, "
                                                   "'-' or '_', starting with a letter or digit.")  # fmt: skip
    require_group(call)
    body = call.body()
    location, tags = require_location(body), require_tags(body)
    rid = _identity_id(call)
    existing = call.state.peek(rid)
    if existing is not None:
        check_location_unchanged(existing, location)
        existing["tags"] = tags
        return Reply(200, existing)
    identity = {
        "id": rid, "name": name, "type": _TYPE, "location": location, "tags": tags,
        "properties": {"tenantId": call.state.tenant_id, "principalId": new_guid(), "clientId": new_guid(),
                       "isolationScope": "None"},
    }  # fmt: skip
    return Reply(201, call.state.save(identity))


def get_identity(call: Call) -> Reply:
    return Reply(200, existing(call, _identity_id(call), _TYPE))


def delete_identity(call: Call) -> Reply:
    """200 when it was there (its credentials go with it), 204 when not."""
    require_group(call)
    rid = _identity_id(call)
    if call.state.peek(rid) is None:
        return Reply(204)
    call.state.remove(rid)
    return Reply(200)


def _parent(call: Call) -> dict[str, Any]:
    require_group(call)
    identity = call.state.peek(_identity_id(call))
    if identity is None:
        raise ArmError(404, "ParentResourceNotFound", "Can not perform requested operation on nested resource. "
                                                      f"Parent resource '{call.params['name']}' not found.")  # fmt: skip
    return identity


def _credentials(call: Call, identity: dict[str, Any]) -> list[dict[str, Any]]:
    prefix = identity["id"].lower() + "/federatedidentitycredentials/"
    return [r for key, r in call.state.resources.items() if key.startswith(prefix)]


def _credential_id(call: Call, identity: dict[str, Any]) -> str:
    name = call.params["credential"]
    if not _CREDENTIAL_NAME.fullmatch(name):
        raise ArmError(400, "InvalidResourceName", f"Federated identity credential name '{name}' is invalid: "
                                                   "3-120 letters, digits, '-' or '_', starting with a letter or digit.")  # fmt: skip
    return f"{identity['id']}/federatedIdentityCredentials/{name}"


def _claims(body: dict[str, Any]) -> dict[str, Any]:
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise ArmError(400, "BadRequest", "The federated identity credential needs a 'properties' object.")
    issuer, subject, audiences = properties.get("issuer"), properties.get("subject"), properties.get("audiences")
    if not isinstance(issuer, str) or not re.fullmatch(r"https://[^\s/]+(/\S*)?", issuer) or len(issuer) > _MAX_CLAIM:
        raise ArmError(400, "BadRequest", f"The issuer '{issuer}' is not a valid https URL of at most 600 characters.")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > _MAX_CLAIM:
        raise ArmError(400, "BadRequest", "The subject is required and is at most 600 characters.")
    if (not isinstance(audiences, list) or len(audiences) != 1 or not isinstance(audiences[0], str)
            or not audiences[0].strip() or len(audiences[0]) > _MAX_CLAIM):  # fmt: skip
        raise ArmError(400, "BadRequest", "The audiences must hold exactly one value of at most 600 characters.")
    return {"issuer": issuer, "subject": subject, "audiences": audiences}


def create_credential(call: Call) -> Reply:
    """201 new, 200 updated; 400 for a duplicate issuer and subject or past the 20 an identity may hold."""
    identity = _parent(call)
    rid = _credential_id(call, identity)
    claims = _claims(call.body())
    others = [c for c in _credentials(call, identity) if c["id"].lower() != rid.lower()]
    if any((c["properties"]["issuer"], c["properties"]["subject"]) == (claims["issuer"], claims["subject"])
           for c in others):  # fmt: skip
        raise ArmError(400, "BadRequest", f"A federated identity credential with issuer '{claims['issuer']}' and "
                                          f"subject '{claims['subject']}' already exists on this identity.")  # fmt: skip
    existing = call.state.peek(rid)
    if existing is None and len(others) >= MAX_CREDENTIALS:
        raise ArmError(400, "BadRequest", f"Too many federated identity credentials: an identity holds at most "
                                          f"{MAX_CREDENTIALS}, and '{identity['name']}' holds {len(others)}.")  # fmt: skip
    credential = {"id": rid, "name": call.params["credential"], "type": _CREDENTIAL_TYPE, "properties": claims}
    call.state.save(credential)
    return Reply(200 if existing is not None else 201, credential)


def get_credential(call: Call) -> Reply:
    credential = call.state.peek(_credential_id(call, _parent(call)))
    if credential is None:
        raise ArmError(404, "NotFound", f"Federated identity credential '{call.params['credential']}' not found.")
    return Reply(200, credential)


def list_credentials(call: Call) -> Reply:
    return Reply(200, {"value": _credentials(call, _parent(call))})


def delete_credential(call: Call) -> Reply:
    """200 when it was there, 204 when not (the identity must exist)."""
    rid = _credential_id(call, _parent(call))
    if call.state.peek(rid) is None:
        return Reply(204)
    call.state.remove(rid)
    return Reply(200)


ROUTES = [
    route(_IDENTITY, API_VERSIONS, _VERSION_ERROR, PUT=create_identity, GET=get_identity, DELETE=delete_identity),
    route(_CREDENTIALS, API_VERSIONS, _VERSION_ERROR, GET=list_credentials),
    route(_CREDENTIALS + r"/(?P<credential>[^/]+)", API_VERSIONS, _VERSION_ERROR,
          PUT=create_credential, GET=get_credential, DELETE=delete_credential),  # fmt: skip
]
