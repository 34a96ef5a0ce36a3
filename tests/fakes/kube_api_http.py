"""The HTTP face of the fake Kubernetes API: bearer auth, injected faults, verbs and the log.

Answers as the server's REST layer does: JSON, a `Status` body on failure, 401 without the
token, 405 for a verb the path does not take, 415 for a body type the fake does not read
(JSON patch among them). Query parameters the fake does not implement (watch, dryRun,
limit/continue, fieldSelector, ...) are a 400 rather than silently ignored.
"""
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import yaml

from .kube_api_errors import KubeError, bad_request, cause, invalid
from .kube_api_rbac import authorize, data_action
from .kube_api_resources import Route, route
from .kube_api_store import Store

APPLY = "application/apply-patch+yaml"
MERGE = ("application/merge-patch+json", "application/strategic-merge-patch+json")
QUERY = {  # (verb, addresses one object) -> the query parameters the fake implements
    ("GET", False): {"labelSelector"},
    ("GET", True): set(),
    ("POST", False): {"fieldManager", "fieldValidation"},
    ("PUT", True): {"fieldManager", "fieldValidation"},
    ("PATCH", True): {"fieldManager", "fieldValidation", "force"},
    ("DELETE", True): {"propagationPolicy", "gracePeriodSeconds"},
}
BOOLS = {**dict.fromkeys(("1", "t", "T", "true", "True", "TRUE"), True),
         **dict.fromkeys(("0", "f", "F", "false", "False", "FALSE"), False)}


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: str
    status: int


@dataclass
class Fault:
    method: str
    path: re.Pattern
    status: int
    remaining: int


class KubeHTTPServer(ThreadingHTTPServer):
    """Loopback server on a free port, holding what the handler threads share."""
    daemon_threads = True

    def __init__(self, store: Store, token: str, data_actions: frozenset[str] | None = None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.store, self.token = store, token
        self.data_actions = data_actions  # None: no Azure RBAC, every authenticated call allowed
        self.used_actions: set[str] = set()
        self.refused_actions: list[str] = []
        self.lock = threading.Lock()
        self.faults: list[Fault] = []
        self.log: list[LoggedRequest] = []

    def take_fault(self, method: str, path: str) -> int | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and fault.path.search(path):
                    fault.remaining -= 1
                    if not fault.remaining:
                        self.faults.remove(fault)
                    return fault.status
        return None


class Handler(BaseHTTPRequestHandler):
    server: KubeHTTPServer

    def do_GET(self):
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        text = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        try:
            code, payload = self._respond(url.path, query, content_type, text)
        except KubeError as error:
            code, payload = error.code, error.status
        with self.server.lock:
            self.server.log.append(LoggedRequest(self.command, url.path, query, content_type, text, code))
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format, *args):
        """Silent: `FakeKubeApi.requests` is the log."""

    def _respond(self, path: str, query: dict, content_type: str, text: str) -> tuple[int, dict]:
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            raise KubeError(401, "Unauthorized")
        if status := self.server.take_fault(self.command, path):
            raise KubeError(status, f"injected by FakeKubeApi.fail_next for {self.command} {path}")
        manager = query.get("fieldManager") or (self.headers.get("User-Agent") or "unknown").split("/")[0]
        target = route(path)
        if self.server.data_actions is not None:
            try:
                action = authorize(self.server.data_actions, self.command, target)
            except KubeError:
                with self.server.lock:
                    self.server.refused_actions.append(data_action(self.command, target))
                raise
            with self.server.lock:
                self.server.used_actions.add(action)
        return dispatch(self.server.store, self.command, target, query, content_type, text, manager)


def dispatch(store: Store, method: str, target: Route, query: dict, content_type: str,
             text: str, manager: str) -> tuple[int, dict]:
    """Check the verb and parameters against what the path takes, then do it on the store."""
    verb = (method, target.name is not None)
    if verb not in QUERY or (target.resource.namespaced and target.namespace is None and method != "GET"):
        raise KubeError(405, f"{method} is not served on this path by the fake Kubernetes API")
    if unknown := set(query) - QUERY[verb] - {"pretty"}:
        raise bad_request(f"the fake Kubernetes API does not implement query parameters {sorted(unknown)}")
    if query.get("fieldValidation", "Strict") != "Strict":
        raise bad_request("the fake Kubernetes API always validates strictly: fieldValidation must be Strict or unset")
    if method == "GET":
        return 200, store.read(target) if target.name else store.collection(target, query.get("labelSelector", ""))
    if method == "DELETE":
        return 200, store.delete(target, _propagation(query, _json(text) if text else {}))
    if method in ("POST", "PUT"):
        if content_type not in ("", "application/json"):  # no type means JSON, as on the server
            raise _unsupported(content_type, ["application/json"])
        if method == "POST":
            return 201, store.create(target, _json(text), manager)
        return 200, store.replace(target, _json(text), manager)
    if content_type == APPLY:
        if not query.get("fieldManager"):
            raise _patch_options("fieldManager", "Required value: is required for apply patch",
                                 "FieldValueRequired")
        force = query.get("force", "false")
        if force not in BOOLS:
            raise bad_request(f"force: invalid boolean {force!r}")
        return store.apply(target, _yaml(text), manager, BOOLS[force])
    if content_type in MERGE:
        if "force" in query:
            raise _patch_options("force", "Forbidden: may not be specified for non-apply patch",
                                 "FieldValueForbidden")
        return 200, store.merge(target, _json(text), manager)
    raise _unsupported(content_type, [APPLY, *MERGE])


def _propagation(query: dict, options: dict) -> str | None:
    """DeleteOptions come as query parameters or as a body; both must agree."""
    if not isinstance(options, dict):
        raise bad_request("a DELETE body must be DeleteOptions")
    in_query, in_body = query.get("propagationPolicy"), options.get("propagationPolicy")
    if in_query and in_body and in_query != in_body:
        raise bad_request("propagationPolicy differs between the query and the DeleteOptions body")
    return in_query or in_body


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError as error:
        raise bad_request(f"the request body is not JSON: {error}") from None


def _yaml(text: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise bad_request(f"the apply body is not YAML: {error}") from None


def _patch_options(field: str, message: str, reason: str) -> KubeError:
    return invalid("PatchOptions", "", [cause(field, message, reason)], "meta.k8s.io")


def _unsupported(content_type: str, accepted: list[str]) -> KubeError:
    return KubeError(415, f"the body of type {content_type!r} is not read here; accepted: {accepted}")
