"""Send manifests to a cluster: server-side apply, create-if-absent, delete, and readiness waits.

One field manager with force, so applying again converges on the same object and stores
nothing new: ensure-activities just apply every time. Every wait has a deadline and ends
with an error naming what is not ready and, when its pods say, why (field lessons).
Answers are read as plain JSON, never as the client's models.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence

from kubernetes.client import ApiClient, ApiException, AppsV1Api, BatchV1Api, CoreV1Api

FIELD_MANAGER = "modelops"
APPLY = "application/apply-patch+yaml"
POLL_SECONDS = 2.0
POD_PROBLEMS_SHOWN = 3

# kind -> (API group class, the client's method suffix)
_KINDS = {
    "Namespace": (CoreV1Api, "namespace"),
    "Service": (CoreV1Api, "namespaced_service"),
    "Secret": (CoreV1Api, "namespaced_secret"),
    "ConfigMap": (CoreV1Api, "namespaced_config_map"),
    "ServiceAccount": (CoreV1Api, "namespaced_service_account"),
    "PersistentVolumeClaim": (CoreV1Api, "namespaced_persistent_volume_claim"),
    "Deployment": (AppsV1Api, "namespaced_deployment"),
    "StatefulSet": (AppsV1Api, "namespaced_stateful_set"),
    "Job": (BatchV1Api, "namespaced_job"),
}

log = logging.getLogger(__name__)


class KubernetesError(RuntimeError):
    """A call the API server refused (`status`: its HTTP status), or a workload that failed, in one line."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class NotReady(KubernetesError, TimeoutError):
    """The deadline passed with workloads still not ready."""


#: Kinds whose changed fixed fields (a Job's pod template, a StatefulSet's claim templates) make the
#: API server answer 422: they are replaced instead, a StatefulSet orphaning its pods and claims so
#: the data stays and the new set adopts them.
REPLACED = {"Job": "Background", "StatefulSet": "Orphan"}


def apply(api: ApiClient, manifest: dict) -> dict:
    """Create or converge `manifest` by server-side apply; the object as stored.

    A Job or StatefulSet whose immutable fields changed (an image, a claim size) is deleted and
    applied again: an ensure-activity converges on the manifest it was given."""
    kind, meta = manifest["kind"], manifest["metadata"]
    try:
        response = _apply(api, manifest)
    except KubernetesError as error:
        if error.status != 422 or kind not in REPLACED:
            raise
        log.info("replacing %s %s: %s", kind, _where(meta.get("namespace"), meta["name"]), error)
        _call(api, "delete", kind, meta.get("namespace"), meta["name"], propagation_policy=REPLACED[kind])
        response = _apply(api, manifest)
    verb = "created" if response.status == 201 else "applied"
    log.info("%s %s %s", verb, kind, _where(meta.get("namespace"), meta["name"]))
    return json.loads(response.data)


def _apply(api: ApiClient, manifest: dict):
    meta = manifest["metadata"]
    return _call(api, "patch", manifest["kind"], meta.get("namespace"), meta["name"], manifest,
                 field_manager=FIELD_MANAGER, force=True, field_validation="Strict", _content_type=APPLY)


def ensure_namespace(api: ApiClient, manifest: dict, timeout_s: float) -> dict:
    """Apply a Namespace, first waiting out a deletion of the same name: a Terminating namespace
    refuses new objects until it is gone (an environment taken down and brought straight back up)."""
    name, deadline = manifest["metadata"]["name"], time.monotonic() + timeout_s
    while (found := read(api, "Namespace", None, name)) is not None and found["metadata"].get("deletionTimestamp"):
        if time.monotonic() >= deadline:
            raise NotReady(f"namespace {name} is still terminating after {timeout_s:g} s")
        time.sleep(POLL_SECONDS)
    return apply(api, manifest)


def create_if_absent(api: ApiClient, manifest: dict) -> bool:
    """Create `manifest` unless an object of its name exists (kept as it is); True when created."""
    kind, meta = manifest["kind"], manifest["metadata"]
    if read(api, kind, meta.get("namespace"), meta["name"]) is not None:
        return False
    try:
        _call(api, "create", kind, meta.get("namespace"), None, manifest, field_manager=FIELD_MANAGER,
              field_validation="Strict")
    except KubernetesError as error:
        if error.status == 409:  # created meanwhile by a concurrent attempt
            return False
        raise
    log.info("created %s %s", kind, _where(meta.get("namespace"), meta["name"]))
    return True


def read(api: ApiClient, kind: str, namespace: str | None, name: str) -> dict | None:
    """The object, or None when there is none."""
    try:
        return json.loads(_call(api, "read", kind, namespace, name).data)
    except KubernetesError as error:
        if error.status == 404:
            return None
        raise


def delete(api: ApiClient, kind: str, namespace: str | None, name: str) -> bool:
    """Delete an object and, in the background, what it owns (a Job's pods too); False when absent,
    or for a namespace already terminating."""
    if kind == "Namespace":
        found = read(api, kind, None, name)
        if found is None or found["metadata"].get("deletionTimestamp"):
            return False
    try:
        _call(api, "delete", kind, namespace, name, propagation_policy="Background")
    except KubernetesError as error:
        if error.status == 404:
            return False
        raise
    log.info("deleted %s %s", kind, _where(namespace, name))
    return True


def wait_ready(api: ApiClient, namespace: str, what: Sequence[tuple[str, str]], timeout_s: float) -> None:
    """Poll Deployments, StatefulSets (ready replicas) and Jobs (succeeded) until all are ready.

    A failed Job ends the wait at once; at the deadline `NotReady` names each workload
    still waiting, e.g. "dask-workers: 1 of 3 replicas ready after 120 s".
    """
    deadline = time.monotonic() + timeout_s
    while True:
        pending = [(kind, name, problem) for kind, name in what
                   if (problem := _not_ready(api, namespace, kind, name))]
        if not pending:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            found = [f"{name}: {problem}{_pod_hint(api, namespace, kind, name)}" for kind, name, problem in pending]
            raise NotReady(f"{'; '.join(found)} after {timeout_s:g} s")
        time.sleep(min(POLL_SECONDS, remaining))


def _not_ready(api: ApiClient, namespace: str, kind: str, name: str) -> str | None:
    """Why `name` is not ready yet, or None when it is."""
    obj = read(api, kind, namespace, name)
    if obj is None:
        return "not found"
    spec, status = obj.get("spec", {}), obj.get("status") or {}
    if kind == "Job":
        conditions = {c["type"] for c in status.get("conditions") or [] if c.get("status") == "True"}
        if conditions & {"Failed", "FailureTarget"}:
            raise KubernetesError(f"{name} failed in {namespace}: {_job_failure(status)}")
        wanted, succeeded = spec.get("completions") or 1, status.get("succeeded") or 0
        return None if succeeded >= wanted else f"{succeeded} of {wanted} completions succeeded"
    wanted, observed = spec.get("replicas", 1), status.get("observedGeneration")
    if observed is None:
        return f"0 of {wanted} replicas ready"
    if observed < obj["metadata"].get("generation", 0):  # counts still describe the previous spec
        return f"0 of {wanted} replicas ready (its controller has not seen the latest change yet)"
    ready = min(status.get("readyReplicas") or 0, status.get("updatedReplicas") or 0)
    return None if ready >= wanted else f"{ready} of {wanted} replicas ready"


def _job_failure(status: dict) -> str:
    for condition in status.get("conditions") or []:
        if condition.get("type") in ("Failed", "FailureTarget") and condition.get("status") == "True":
            return ": ".join(part for part in (condition.get("reason"), condition.get("message")) if part)
    return "failed"


def _pod_hint(api: ApiClient, namespace: str, kind: str, name: str) -> str:
    """What the workload's waiting pods report (CrashLoopBackOff, ImagePullBackOff, Unschedulable...)."""
    obj = read(api, kind, namespace, name)
    selector = ((obj or {}).get("spec", {}).get("selector") or {}).get("matchLabels")
    if not selector:
        return ""
    label_selector = ",".join(f"{key}={value}" for key, value in selector.items())
    response = _call(api, "list", "Pod", namespace, None, label_selector=label_selector)
    problems = [f"{pod['metadata']['name']}: {problem}" for pod in json.loads(response.data)["items"]
                if (problem := _pod_problem(pod.get("status") or {}))]
    return f" ({'; '.join(problems[:POD_PROBLEMS_SHOWN])})" if problems else ""


def _pod_problem(status: dict) -> str | None:
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason") not in (None, "ContainerCreating", "PodInitializing"):
            return waiting["reason"]
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return ": ".join(part for part in (condition.get("reason"), condition.get("message")) if part)
    return None


def _call(api: ApiClient, verb: str, kind: str, namespace: str | None, name: str | None, *args, **kwargs):
    """One typed client call by kind, answered raw; a refusal becomes a `KubernetesError` naming it."""
    group, suffix = (CoreV1Api, "namespaced_pod") if kind == "Pod" else _KINDS[kind]
    method = getattr(group(api), f"{verb}_{suffix}")
    where = [value for value in (name, namespace if suffix.startswith("namespaced") else None) if value is not None]
    try:
        return method(*where, *args, _preload_content=False, **kwargs)
    except ApiException as error:
        action = "apply" if verb == "patch" else verb  # every patch here is an apply
        raise KubernetesError(f"{action} {kind} {_where(namespace, name)}: {_reason(error)}", error.status) from None


def _reason(error: ApiException) -> str:
    """The API server's own message (its `Status`), never the headers or a request body."""
    try:
        message = json.loads(error.body).get("message")
    except (TypeError, ValueError, AttributeError):
        message = None
    return f"HTTP {error.status} {error.reason}" + (f": {message}" if message else "")


def _where(namespace: str | None, name: str | None) -> str:
    return "/".join(part for part in (namespace, name) if part)
