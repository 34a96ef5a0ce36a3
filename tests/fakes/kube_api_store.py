"""The objects the fake Kubernetes API holds, written the way the API server writes them.

Server-owned metadata (`uid`, a monotonic `resourceVersion`, `creationTimestamp`,
`generation` for apps/batch kinds, `managedFields`) is set here and never taken from a
request. `status` starts empty (a StatefulSet's at the zero counts a server writes) and
only `set_status` (a test control) changes it. A write that changes nothing is not stored,
so `resourceVersion` and `generation` stay put. Server defaults (Deployment strategy,
imagePullPolicy, ...) are not filled in: an object reads back as it was written.
Updates that change an immutable field are refused (kube_api_immutable). A deleted namespace
loses its contents at once but stays `Terminating` (deletionTimestamp set) for
`terminating_reads` more reads of it, refusing new objects inside (403, as the namespace
lifecycle admission answers); then it is gone. Other deletions are immediate (no finalizers;
a Foreground delete removes dependents and owner together) and answer a Success `Status`,
which the client's delete methods read; dependents are found by
`metadata.ownerReferences[].uid`, as the garbage collector finds them.
"""
import base64
import copy
import threading
import uuid
from datetime import datetime, timezone

from . import kube_api_fields as fields
from .kube_api_errors import (KubeError, already_exists, bad_request, cause, invalid, modified,
                              not_found, object_details)
from .kube_api_immutable import check_update
from .kube_api_resources import NAMESPACE, ResourceType, Route, resource_for_kind
from .kube_api_selectors import parse_selector
from .kube_api_validation import check

SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation")
PROPAGATION = ("Orphan", "Background", "Foreground")


class Store:
    """One lock over all objects: the HTTP threads and the test controls see one history."""

    def __init__(self, kubernetes_version: str, terminating_reads: int = 2):
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str | None, str], dict] = {}
        self._revision = 0
        self._version = kubernetes_version
        self.terminating_reads = terminating_reads
        self._terminating: dict[str, int] = {}  # namespace -> reads left before it is gone

    def read(self, route: Route) -> dict:
        with self._lock:
            if route.resource.kind == "Namespace" and route.name in self._terminating:
                self._terminating[route.name] -= 1
                if self._terminating[route.name] < 0:
                    del self._terminating[route.name]
                    del self._objects[("Namespace", None, route.name)]
            return copy.deepcopy(self._existing(route))

    def collection(self, route: Route, label_selector: str) -> dict:
        selects = parse_selector(label_selector)
        with self._lock:
            items = [{k: v for k, v in copy.deepcopy(obj).items() if k not in ("apiVersion", "kind")}
                     for obj in self._of_kind(route.resource.kind, route.namespace)
                     if selects(obj["metadata"].get("labels", {}))]
            return {"kind": f"{route.resource.kind}List", "apiVersion": route.resource.api_version,
                    "metadata": {"resourceVersion": str(self._revision)}, "items": items}

    def create(self, route: Route, body, manager: str) -> dict:
        with self._lock:
            obj = _incoming(route, body, typed=False)
            if obj["metadata"].get("resourceVersion"):
                raise bad_request("resourceVersion should not be set on objects to be created")
            self._require_namespace(route)
            if _key(obj) in self._objects:
                raise already_exists(route.resource, obj["metadata"]["name"])
            return self._write(route.resource, None, obj, fields.record_update(None, obj, manager))

    def replace(self, route: Route, body, manager: str) -> dict:
        """PUT: the body's `status` is ignored, as the main resource cannot write it."""
        with self._lock:
            old = self._existing(route)
            obj = _incoming(route, body, typed=False, replacing=True)
            _check_precondition(route, old, obj)
            return self._write(route.resource, old, obj, fields.record_update(old, obj, manager))

    def apply(self, route: Route, config, manager: str, force: bool) -> tuple[int, dict]:
        """Server-side apply: creates (201) or merges by field ownership (200)."""
        with self._lock:
            config = _incoming(route, config, typed=True)
            if "managedFields" in config["metadata"]:
                raise bad_request("metadata.managedFields must be nil")
            old = self._objects.get(_key(config))
            if old is None:
                self._require_namespace(route)
            else:
                _check_precondition(route, old, config)
            live = old or {k: config[k] for k in ("apiVersion", "kind")} | {
                "metadata": {k: v for k, v in config["metadata"].items() if k in ("name", "namespace")}}
            merged, owners, conflicts = fields.apply(live, config, manager, force)
            if conflicts and not force:
                raise _apply_conflict(route.resource, config["metadata"]["name"], conflicts)
            return (201 if old is None else 200), self._write(route.resource, old, merged, owners)

    def merge(self, route: Route, patch, manager: str) -> dict:
        """JSON merge patch; strategic merge patch is served as this too (lists replace)."""
        with self._lock:
            old = self._existing(route)
            patch = _incoming(route, patch, typed=False)
            _check_precondition(route, old, patch)
            new = fields.merge_patch(old, patch)
            return self._write(route.resource, old, new, fields.record_update(old, new, manager))

    def delete(self, route: Route, propagation: str | None) -> dict:
        """Default propagation is Background, but Orphan for Jobs, as on the server."""
        with self._lock:
            obj = self._existing(route)
            policy = propagation or ("Orphan" if route.resource.orphans_by_default else "Background")
            if policy not in PROPAGATION:
                raise invalid("DeleteOptions", "", [cause("propagationPolicy", f'Unsupported value: '
                              f'"{policy}": supported values: {", ".join(PROPAGATION)}',
                              "FieldValueNotSupported")])
            self._remove(obj, policy)
            meta = obj["metadata"]
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": object_details(route.resource, meta["name"], uid=meta["uid"])}

    def set_status(self, kind: str, namespace: str | None, name: str, status: dict) -> dict:
        with self._lock:
            resource = resource_for_kind(kind)
            if resource.initial_status is None:
                raise ValueError(f"a {kind} has no status")
            if (kind, namespace, name) not in self._objects:
                raise KeyError(f"no {kind} {namespace}/{name} in the fake Kubernetes API")
            obj = copy.deepcopy(self._objects[(kind, namespace, name)])
            obj["status"] = copy.deepcopy(status)
            check(resource, obj, self._version)
            self._store(obj)
            return copy.deepcopy(obj)

    def objects(self, kind: str, namespace: str | None) -> list[dict]:
        resource_for_kind(kind)
        with self._lock:
            return copy.deepcopy(self._of_kind(kind, namespace))

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        resource_for_kind(kind)
        with self._lock:
            return copy.deepcopy(self._objects.get((kind, namespace, name)))

    def _of_kind(self, kind: str, namespace: str | None) -> list[dict]:
        return [self._objects[key] for key in sorted(self._objects, key=lambda k: (k[1] or "", k[2]))
                if key[0] == kind and namespace in (None, key[1])]

    def _existing(self, route: Route) -> dict:
        obj = self._objects.get((route.resource.kind, route.namespace, route.name))
        if obj is None:
            raise not_found(route.resource, route.name)
        return obj

    def _require_namespace(self, route: Route) -> None:
        if route.resource.namespaced and ("Namespace", None, route.namespace) not in self._objects:
            raise not_found(NAMESPACE, route.namespace)
        if route.resource.namespaced and route.namespace in self._terminating:
            raise KubeError(403, f"{route.resource.kind.lower()}s \"{route.name or ''}\" is forbidden: unable to "
                                 f"create new content in namespace {route.namespace} because it is being terminated",
                            "Forbidden", details=object_details(route.resource, route.name or "",
                                                                causes=[cause("", "", "NamespaceTerminating")]))

    def _write(self, resource: ResourceType, old: dict | None, new: dict, owners) -> dict:
        meta = new["metadata"]
        for field in SERVER_METADATA:
            meta.pop(field, None)
            if old is not None and field in old["metadata"]:
                meta[field] = old["metadata"][field]
        if resource.initial_status is not None:
            new["status"] = copy.deepcopy(old["status"] if old else resource.initial_status)
        meta.pop("managedFields", None)
        if entries := fields.managed_fields(owners, resource.api_version, old):
            meta["managedFields"] = entries
        if new == old:
            return copy.deepcopy(old)
        if old is not None:
            check_update(resource, old, new)
            if "deletionTimestamp" in old["metadata"]:  # a Terminating namespace stays so
                meta["deletionTimestamp"] = old["metadata"]["deletionTimestamp"]
        check(resource, _spec(new) | {"metadata": meta}, self._version)  # status: set_status checks it
        if old is None:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            if resource.has_generation:
                meta["generation"] = 1
        elif resource.has_generation and _spec(old) != _spec(new):
            meta["generation"] += 1
        self._store(new)
        return copy.deepcopy(new)

    def _store(self, obj: dict) -> None:
        self._revision += 1
        obj["metadata"]["resourceVersion"] = str(self._revision)
        self._objects[_key(obj)] = obj

    def _remove(self, obj: dict, policy: str) -> None:
        meta = obj["metadata"]
        if obj["kind"] == "Namespace":
            for key in [key for key in self._objects if key[1] == meta["name"]]:
                del self._objects[key]
            if self.terminating_reads > 0:
                self._terminating.setdefault(meta["name"], self.terminating_reads)
                meta.setdefault("deletionTimestamp", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
                obj["status"] = {"phase": "Terminating"}
                self._store(obj)
                return
        del self._objects[_key(obj)]
        for dependent in list(self._objects.values()):
            references = dependent["metadata"].get("ownerReferences", [])
            if not any(ref.get("uid") == meta["uid"] for ref in references):
                continue
            if policy != "Orphan":
                if _key(dependent) in self._objects:
                    self._remove(dependent, "Background")
                continue
            orphan = copy.deepcopy(dependent)
            kept = [ref for ref in references if ref.get("uid") != meta["uid"]]
            orphan["metadata"]["ownerReferences"] = kept
            if not kept:
                del orphan["metadata"]["ownerReferences"]
            self._store(orphan)


def _incoming(route: Route, body, typed: bool, replacing: bool = False) -> dict:
    """A request body checked against its URL, as the server decodes it.

    `typed` bodies (apply) must state apiVersion and kind; others default them from the URL.
    Only PUT may carry `status` (ignored, it round-trips from a GET); elsewhere a status the
    server would silently drop is refused, since the caller meant something else.
    """
    resource = route.resource
    if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
        raise bad_request("the request body must be a JSON object with object metadata")
    obj = copy.deepcopy(body)
    obj.setdefault("metadata", {})
    for field, expected in (("apiVersion", resource.api_version), ("kind", resource.kind)):
        given = obj.get(field) if typed else obj.setdefault(field, expected)
        if given != expected:
            raise bad_request(f"{field} {given!r} in the body does not match the URL, which serves "
                              f"{resource.kind} in {resource.api_version}")
    meta = obj["metadata"]
    if route.name is not None and meta.setdefault("name", route.name) != route.name:
        raise bad_request(f"the name of the object ({meta['name']}) does not match the name on "
                          f"the URL ({route.name})")
    if not meta.get("name"):
        raise invalid(resource.kind, "", [cause("metadata.name", "Required value: name or "
                                                "generateName is required", "FieldValueRequired")],
                      resource.group)
    if not resource.namespaced:
        meta.pop("namespace", None)
    elif meta.setdefault("namespace", route.namespace) != route.namespace:
        raise bad_request("the namespace of the provided object does not match the namespace "
                          "sent on the request")
    if obj.get("status") and not replacing:
        raise bad_request("status cannot be written through the main resource (a server ignores "
                          "it); tests set it with FakeKubeApi.set_status")
    if resource.kind == "Secret" and "stringData" in obj:
        _fold_string_data(obj)
    return obj


def _fold_string_data(secret: dict) -> None:
    """The server merges `stringData` into base64 `data` and never stores or returns it."""
    string_data = secret.pop("stringData")
    if not isinstance(string_data, dict) or not all(isinstance(v, str) for v in string_data.values()):
        raise bad_request("Secret stringData must map keys to strings")
    secret["data"] = {**secret.get("data", {}),
                      **{k: base64.b64encode(v.encode()).decode() for k, v in string_data.items()}}


def _check_precondition(route: Route, old: dict, body: dict) -> None:
    expected = body["metadata"].get("resourceVersion")
    if expected is not None and expected != old["metadata"]["resourceVersion"]:
        raise modified(route.resource, route.name)


def _apply_conflict(resource: ResourceType, name: str, conflicts) -> KubeError:
    causes = [cause("." + ".".join(path), f'conflict with "{who}" using {resource.api_version}',
                    "FieldManagerConflict") for who, path in conflicts]
    listing = "; ".join(f'{c["message"]}: {c["field"]}' for c in causes)
    plural = "conflict" if len(causes) == 1 else "conflicts"
    return KubeError(409, f"Apply failed with {len(causes)} {plural}: {listing}",
                     details=object_details(resource, name, causes=causes))


def _key(obj: dict) -> tuple[str, str | None, str]:
    return (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])


def _spec(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}
