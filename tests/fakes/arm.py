"""A strict fake of Azure Resource Manager, behind the SDK's own HTTP transport.

Real azure-mgmt-* clients run unchanged against it: pass `transport=FakeArm()` and
`credential=FakeCredential()`. FakeArm is azure-core's RequestsTransport with a `requests`
adapter that answers in-process, so requests are prepared, sent and read exactly as in
production, and nothing reaches a network. Anything it does not know is refused the way
ARM refuses it, never silently accepted.

The transport's `sleep` records instead of sleeping: pollers and retry policies ask the
transport to sleep, so tests see what the SDK would have waited (`arm.sleeps`) without waiting.
"""

import copy
import io
import json
import re
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import requests
import urllib3
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter

from tests.fakes import arm_acr, arm_aks, arm_aks_versions, arm_groups, arm_identity, arm_roles
from tests.fakes.arm_authz import AppRights, action_of
from tests.fakes.arm_credentials import KubeAccess
from tests.fakes.arm_requests import Call, Route
from tests.fakes.arm_state import ArmError, ArmState, PlannedFailure, Reply

ARM_HOST = "management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"
SUBSCRIPTION_ID = "5f1c2a3b-0000-4000-8000-00000000a7e1"
TENANT_ID = "5f1c2a3b-0000-4000-8000-0000000000e7"


def token_for(*scopes: str) -> str:
    """The dummy token FakeCredential issues for these scopes; services check it matches theirs."""
    return "fake-token|" + "|".join(scopes)


class FakeCredential:
    """A TokenCredential that needs no Azure: a fixed dummy token per scope, valid for an hour."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if not scopes:
            raise ValueError("get_token needs at least one scope")
        return AccessToken(token_for(*scopes), int(time.time()) + 3600)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it reached the fake; `body` is parsed JSON when it parses."""

    method: str
    url: str
    body: Any

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.url).path)


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    code: str


class _InProcessAdapter(HTTPAdapter):
    """A `requests` adapter that asks the fake for the answer instead of opening a socket."""

    def __init__(self, answer):
        super().__init__()
        self._answer = answer

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        body = request.body.encode() if isinstance(request.body, str) else request.body
        status, headers, content = self._answer(request.method, request.url, request.headers, body or b"")
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(content),
            headers=headers,
            status=status,
            reason=HTTPStatus(status).phrase,
            preload_content=False,
        )
        return self.build_response(request, raw)


class FakeArm(RequestsTransport):
    """ARM for resource groups, AKS, ACR, managed identities and role assignments, in memory, strict.

    `lro_polls`: how many looks (status URL polls or GETs) a long-running operation answers
    InProgress before it ends. `retry_after`: the Retry-After sent with LRO answers (ARMPolling
    treats 0 as absent and falls back to the client's polling_interval). `kube`: where the
    kubeconfigs from listClusterUserCredential point. `rights`: the app identity's role
    assignments (`AppRights.from_bicep()`); each request they do not allow is answered 403
    AuthorizationFailed, as ARM answers it. None authorizes everything (tests of the fake itself).
    """

    def __init__(
        self,
        subscription_id: str = SUBSCRIPTION_ID,
        *,
        tenant_id: str = TENANT_ID,
        lro_polls: int = 1,
        retry_after: int = 0,
        kube: KubeAccess | None = None,
        rights: AppRights | None = None,
    ):
        session = requests.Session()
        session.trust_env = False
        adapter = _InProcessAdapter(self._answer)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        super().__init__(session=session, session_owner=False)
        self.state = ArmState(subscription_id, tenant_id, lro_polls, retry_after)
        self.state.kubernetes_versions = copy.deepcopy(arm_aks_versions.OFFER)
        self.kube = kube or KubeAccess()
        self.rights = rights
        #: The actions of the requests `rights` refused (403), in order.
        self.refused: list[str] = []
        self.requests: list[RecordedRequest] = []
        self.sleeps: list[float] = []
        self._faults: list[_Fault] = []
        self._routes: list[Route] = [
            *arm_groups.ROUTES,
            *arm_aks.routes(self.kube),
            *arm_acr.ROUTES,
            *arm_roles.ROUTES,
            *arm_identity.ROUTES,
        ]
        self._lock = threading.Lock()

    def sleep(self, duration: float) -> None:
        self.sleeps.append(duration)

    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests with this error instead of handling them.

        `path_regex` is searched (case-insensitively) in the URL path; `code` defaults to the
        status phrase, e.g. TooManyRequests for 429.
        """
        code = code or HTTPStatus(status).phrase.replace(" ", "")
        fault = _Fault(method.upper(), re.compile(path_regex, re.IGNORECASE), status, times, dict(headers or {}), code)
        with self._lock:
            self._faults.append(fault)

    @property
    def pending_faults(self) -> int:
        """Injected answers not yet given: a test that injects faults checks they were hit."""
        with self._lock:
            return sum(fault.times for fault in self._faults)

    def fail_operation(self, path_regex: str, code: str, message: str, state: str = "Failed") -> None:
        """Make the next long-running operation on a matching resource id end Failed (or Canceled)."""
        if state not in ("Failed", "Canceled"):
            raise ValueError(f"an operation ends Failed or Canceled, not {state!r}")
        with self._lock:
            pattern = re.compile(path_regex, re.IGNORECASE)
            self.state.failures.append(PlannedFailure(pattern, code, message, state))

    def seed(self, resource_id: str, resource_type: str) -> None:
        """A resource of a provider the fake does not serve (a storage container, a topic), so
        role assignments can be scoped to it."""
        name = resource_id.rstrip("/").rsplit("/", 1)[1]
        with self._lock:
            self.state.save({"id": resource_id, "name": name, "type": resource_type,
                             "properties": {"provisioningState": "Succeeded"}})

    def resource(self, resource_id: str) -> dict[str, Any] | None:
        """A copy of a stored resource, looked up without advancing any operation."""
        with self._lock:
            return copy.deepcopy(self.state.peek(resource_id))

    def _answer(self, method: str, url: str, headers, body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        if parts.hostname != ARM_HOST:
            raise requests.ConnectionError(f"the fake ARM serves only {ARM_HOST}, not {parts.netloc}")
        with self._lock:  # the poller runs in its own thread; answers are snapshots of the store
            self.requests.append(RecordedRequest(method, url, _recorded_body(body)))
            reply = self._reply(method, parts, headers, body)
            content = b"" if reply.body is None else json.dumps(reply.body).encode()
        out = {"Content-Length": str(len(content)), **reply.headers}
        if reply.body is not None:
            out["Content-Type"] = "application/json; charset=utf-8"
        return reply.status, out, content

    def _reply(self, method: str, parts, headers, body: bytes) -> Reply:
        path = unquote(parts.path)
        for fault in self._faults:
            if fault.times > 0 and fault.method == method and fault.pattern.search(path):
                fault.times -= 1
                error = ArmError(fault.status, fault.code, "Injected by the test.")
                return error.reply(fault.headers)
        try:
            self._authenticate(headers)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            api_version = query.get("api-version")
            if not api_version:
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            if self.rights is not None:
                stored = self.state.peek(path) if method == "DELETE" else None
                try:
                    self.rights.authorize(method, path, _recorded_body(body), stored)
                except ArmError:
                    self.refused.append(action_of(method, path))
                    raise
            route, params = self._route(path)
            if api_version not in route.api_versions:
                supported = "', '".join(sorted(route.api_versions))
                raise ArmError(
                    400,
                    route.version_error,
                    f"The api-version '{api_version}' is not supported for '{path}'. "
                    f"The supported api-versions are '{supported}'.",
                )
            handler = route.methods.get(method)
            if handler is None:
                raise ArmError(405, "MethodNotAllowed", f"The fake ARM does not serve {method} on '{path}'.")
            sub = params.get("sub")
            if sub is not None and sub.lower() != self.state.subscription_id.lower():
                raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
            content = _content(headers, body)
            return handler(Call(method, path, query, api_version, content, params, self.state))
        except ArmError as error:
            return error.reply(_challenge(self.state.tenant_id) if error.status == 401 else None)

    def _authenticate(self, headers) -> None:
        authorization = headers.get("Authorization")
        if not authorization:
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token != token_for(ARM_SCOPE):
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.")

    def _route(self, path: str) -> tuple[Route, dict[str, str]]:
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match:
                return route, {k: v for k, v in match.groupdict().items() if v is not None}
        raise ArmError(
            404,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for '{path}'. The fake ARM serves resource groups, "
            "Microsoft.ContainerService/managedClusters, Microsoft.ContainerRegistry/registries, "
            "Microsoft.ManagedIdentity/userAssignedIdentities and Microsoft.Authorization/roleAssignments.",
        )


def _challenge(tenant_id: str) -> dict[str, str]:
    return {
        "WWW-Authenticate": f'Bearer authorization_uri="https://login.microsoftonline.com/{tenant_id}", '
        'error="invalid_token", error_description="The authentication failed."'
    }


def _content(headers, body: bytes) -> Any:
    """The request's JSON, refusing other media types and malformed JSON as ARM does."""
    if not body:
        return None
    media_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ArmError(
            415,
            "UnsupportedMediaType",
            f"The content media type '{media_type}' is not supported. Only 'application/json' is supported.",
        )
    try:
        return json.loads(body)
    except ValueError as error:
        raise ArmError(
            400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: '{error}'."
        ) from error


def _recorded_body(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
