"""A small stdlib client for the ModelOps HTTP API (docs/api.md).

Stdlib only, so `mops` needs no HTTP dependency. The function key travels in
the `x-functions-key` header and never appears in a message or repr; the
Durable check-status URLs of a 202 carry the app's system key, so they are
dropped rather than returned.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

RETRIED_STATUS = 503


class ApiError(Exception):
    """The API answered with an error; `errors` are problem+json's `{"field", "message"}` items."""

    def __init__(self, status: int, title: str, errors: list[dict[str, str]] | None = None, detail: str | None = None):
        self.status, self.title, self.errors, self.detail = status, title, list(errors or []), detail
        super().__init__(status, title)

    def __str__(self) -> str:
        lines = [f"API error {self.status}: {self.title}"]
        if self.detail and self.detail != self.title:
            lines.append(f"  {self.detail}")
        lines += [f"  {e.get('field') or '(request)'}: {e.get('message', '')}" for e in self.errors]
        return "\n".join(lines)


class ApiUnreachable(Exception):
    """No HTTP answer at all: refused, reset, timed out, or not HTTP."""


class ApiClient:
    def __init__(self, base_url: str, function_key: str | None, timeout: float = 30.0, *, attempts: int = 3, backoff: float = 0.25):
        self.base_url = base_url.rstrip("/")
        self._key = function_key
        self.timeout, self.attempts, self.backoff = timeout, attempts, backoff

    def __repr__(self) -> str:
        return f"ApiClient({self.base_url!r}, function_key={'****' if self._key else None}, timeout={self.timeout})"

    # runs

    def submit_run(
        self,
        spec: dict[str, Any],
        target: str,
        environment: str,
        run_id: str | None = None,
        base_dir: str | None = None,
        bundle_store: str | None = None,
    ) -> dict[str, Any]:
        """`{"run_id", "location"}` of the started (or already live) run."""
        body = {"spec": spec, "target": target, "environment": environment, "run_id": run_id}
        if base_dir is not None:
            body["base_dir"] = base_dir
        if bundle_store is not None:
            body["bundle_store"] = bundle_store
        answer, headers = self._call("POST", "/api/runs", body=body)
        location = headers.get("Location") or ""
        _, marker, tail = urllib.parse.urlsplit(location).path.partition("/api/runs/")
        found = urllib.parse.unquote(tail) if marker else None
        found = found or (answer or {}).get("run_id") or (answer or {}).get("id")
        if not found:
            raise ApiError(502, "the API accepted the run but named no run id (no Location header)")
        return {"run_id": found, "location": location or f"/api/runs/{_segment(found)}"}

    def run_status(self, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/runs/{_segment(run_id)}")[0]

    def list_runs(self) -> list[dict[str, Any]]:
        """Every run, following the API's continuation page by page."""
        runs, query = [], None
        while True:
            page = self._call("GET", "/api/runs", query=query)[0]
            runs += page["runs"]
            if not page.get("continuation"):
                return runs
            query = {"continuation": page["continuation"]}

    def cancel_run(self, run_id: str, purge: bool = False) -> dict[str, Any] | None:
        return self._call("DELETE", f"/api/runs/{_segment(run_id)}", query={"purge": "true"} if purge else None)[0]

    def bundle_store(self) -> str:
        """Where this API's runners fetch bundles from: `mops run` pushes there first."""
        return self._call("GET", "/api/bundle-store")[0]["url"]

    # environments

    def environment_up(self, env: str, target: str) -> dict[str, Any] | None:
        return self._call("PUT", f"/api/environments/{_segment(env)}", body={"target": target})[0]

    def environment_down(self, env: str, delete_rg: bool = False) -> dict[str, Any] | None:
        query = {"delete_rg": "true"} if delete_rg else None
        return self._call("DELETE", f"/api/environments/{_segment(env)}", query=query)[0]

    def environment_status(self, env: str) -> dict[str, Any]:
        return self._call("GET", f"/api/environments/{_segment(env)}")[0]

    def environment_doctor(self, env: str) -> dict[str, Any]:
        return self._call("GET", f"/api/environments/{_segment(env)}/doctor")[0]

    # transport

    def _call(self, method: str, path: str, *, body: Any = None, query: dict[str, str] | None = None) -> tuple[Any, Any]:
        """(parsed JSON body or None, response headers); GETs are retried on no answer or 503."""
        url = self.base_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        attempt = 0
        while True:
            try:
                return self._send(method, url, body)
            except (ApiError, ApiUnreachable) as exc:
                transient = isinstance(exc, ApiUnreachable) or exc.status == RETRIED_STATUS
                if method != "GET" or not transient or attempt + 1 >= self.attempts:
                    raise
            time.sleep(self.backoff * 2**attempt)
            attempt += 1

    def _send(self, method: str, url: str, body: Any) -> tuple[Any, Any]:
        headers = {"Accept": "application/json"}
        if self._key:
            headers["x-functions-key"] = self._key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _json_or_none(response.read()), response.headers
        except urllib.error.HTTPError as exc:
            with exc:
                raise self._error(exc.code, exc.reason, exc.read()) from None
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, DNS, timed out, garbled
            reason = getattr(exc, "reason", None) or exc
            raise ApiUnreachable(self._scrub(f"cannot reach the ModelOps API at {self.base_url}: {reason}")) from None

    def _error(self, status: int, reason: str, raw: bytes) -> ApiError:
        problem = _json_or_none(raw)
        if not isinstance(problem, dict):
            text = raw.decode("utf-8", "replace").strip()[:200]
            return ApiError(status, self._scrub(str(reason or "error")), detail=self._scrub(text) or None)
        errors = [
            {"field": self._scrub(str(e.get("field", ""))), "message": self._scrub(str(e.get("message", "")))}
            for e in problem.get("errors") or []
            if isinstance(e, dict)
        ]
        detail = problem.get("detail")
        return ApiError(status, self._scrub(str(problem.get("title") or reason)), errors, self._scrub(str(detail)) if detail else None)

    def _scrub(self, text: str) -> str:
        """Whatever a server or socket says, the key is not repeated."""
        return text.replace(self._key, "****") if self._key else text


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None
