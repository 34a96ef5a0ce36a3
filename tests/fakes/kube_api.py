"""A strict fake Kubernetes API server on loopback, for tests that drive the real `kubernetes` client.

    with FakeKubeApi() as kube:
        api = kubernetes.config.new_client_from_config_dict(kube.kubeconfig())
        apps = kubernetes.client.AppsV1Api(api)
        apps.patch_namespaced_deployment(name, ns, manifest, field_manager="modelops",
                                         force=True, _content_type="application/apply-patch+yaml")
        kube.set_status("Deployment", ns, name, {"readyReplicas": 1})

Serves core/v1 namespaces, services, secrets, configmaps, persistentvolumeclaims, pods;
apps/v1 deployments, statefulsets; batch/v1 jobs: get, list (label selectors), create,
replace, delete (propagation, namespace cascade), server-side apply and merge patch
(strategic merge patch is served as JSON merge patch: lists replace, never merge by key).
No controllers run: nothing becomes ready, no Job makes pods, until a test says so.
What each part simplifies is written in the module it lives in (kube_api_*.py).
"""
import re
import secrets
import threading
from pathlib import Path

import kubernetes_validate
import yaml

from .kube_api_http import Fault, KubeHTTPServer, LoggedRequest
from .kube_api_store import Store


class FakeKubeApi:
    """The server plus the controls a test uses to play the cluster's controllers.

    `kubernetes_version` picks the OpenAPI schema objects are validated against (strict):
    1.30 by default, so fields only newer clusters know are refused; pass a cluster's own.
    A deleted namespace stays Terminating for `terminating_reads` reads of it (0: gone at once).
    `data_actions`: Azure RBAC for Kubernetes (kube_api_rbac); each request outside them is a 403.
    """

    def __init__(self, kubernetes_version: str = "1.30", token: str | None = None, terminating_reads: int = 2,
                 data_actions: frozenset[str] | None = None):
        self.token = token or secrets.token_urlsafe(16)
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "Namespace", "metadata": {}},
                                     kubernetes_version, strict=True)  # an unshipped version fails here
        self._store = Store(kubernetes_version, terminating_reads)
        self._server = KubeHTTPServer(self._store, self.token, data_actions)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeKubeApi":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-kube-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> "FakeKubeApi":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def kubeconfig(self, path: str | Path | None = None) -> dict:
        """A kubeconfig for this server and token; also written to `path` when given."""
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                  "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                  "users": [{"name": "fake", "user": {"token": self.token}}],
                  "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}
        if path is not None:
            Path(path).write_text(yaml.safe_dump(config))
        return config

    def set_status(self, kind: str, namespace: str | None, name: str, status: dict) -> dict:
        """Replace an object's status as its controller would; bumps resourceVersion.

        The status is checked against the schema like any write (a StatefulSet status needs
        `replicas`), so a misspelt field raises `KubeError` here instead of never matching."""
        return self._store.set_status(kind, namespace, name, status)

    def objects(self, kind: str, namespace: str | None = None) -> list[dict]:
        """Copies of every stored object of `kind` (in `namespace`, or everywhere)."""
        return self._store.objects(kind, namespace)

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        """A copy of one stored object, or None; namespace is None for Namespaces."""
        return self._store.get(kind, namespace, name)

    def fail_next(self, method: str, path_regex: str, status: int, times: int = 1) -> None:
        """Answer the next `times` requests whose method matches and path `re.search`es with a
        `Status` of `status`: checked after the token, before routing, so nothing is stored."""
        with self._server.lock:
            self._server.faults.append(Fault(method.upper(), re.compile(path_regex), status, times))

    @property
    def data_actions_used(self) -> tuple[set[str], list[str]]:
        """The Azure RBAC data actions requests were allowed by, and those refused."""
        with self._server.lock:
            return set(self._server.used_actions), list(self._server.refused_actions)

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request answered so far, in order, with the status it got."""
        with self._server.lock:
            return list(self._server.log)
