"""Parse a results location URL into a local folder or a blob container prefix.

Kept pure (no I/O, no environment) so every accepted and rejected form is
tested without a service, and so errors never echo a query string (SAS token).
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import urllib.parse

AZURE_BLOB_SUFFIX = ".blob.core.windows.net"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")


@dataclasses.dataclass(frozen=True)
class LocalTarget:
    folder: pathlib.Path


@dataclasses.dataclass(frozen=True)
class BlobTarget:
    account_url: str  # e.g. https://acct.blob.core.windows.net or http://127.0.0.1:10000/devstoreaccount1
    account: str
    container: str
    prefix: str  # "" or "a/b", no leading or trailing slash

    @property
    def url(self) -> str:
        return "/".join(part for part in (self.account_url, self.container, self.prefix) if part)


def parse_results_url(url: str) -> LocalTarget | BlobTarget:
    """A folder path, a `file://` URL, or an Azure / Azurite blob URL."""
    if not url or not url.strip():
        raise ValueError("results location is empty")
    if "://" not in url:
        return LocalTarget(pathlib.Path(url).expanduser().absolute())
    parts = urllib.parse.urlsplit(url)
    shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"  # no user info
    if parts.scheme not in ("file", "http", "https"):
        raise ValueError(
            f"unsupported results URL scheme {parts.scheme!r}: use a folder, file://, "
            "or a blob URL (https://<account>.blob.core.windows.net/<container>/...)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(
            f"results URL {shown!r} must not carry a query, fragment or user info; "
            "credentials come from the environment, never the URL"
        )
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file URL {shown!r} must name a local path (file:///path)")
        return LocalTarget(pathlib.Path(urllib.parse.unquote(parts.path)).absolute())
    segments = [urllib.parse.unquote(s) for s in parts.path.split("/") if s]
    host = parts.netloc.lower()
    if (parts.hostname or "").endswith(AZURE_BLOB_SUFFIX):
        if parts.scheme != "https":
            raise ValueError(f"Azure blob URL {shown!r} must use https")
        account = parts.hostname[: -len(AZURE_BLOB_SUFFIX)]
        account_url = f"https://{host}"
    elif parts.hostname in LOOPBACK_HOSTS and segments:
        account = segments.pop(0)
        account_url = f"{parts.scheme}://{host}/{account}"
    else:
        raise ValueError(
            f"unsupported blob URL {shown!r}: expected https://<account>{AZURE_BLOB_SUFFIX}/"
            "<container>/... or an Azurite http://127.0.0.1:<port>/<account>/<container>/..."
        )
    if not segments:
        raise ValueError(f"blob URL {shown!r} has no container")
    container = segments[0]
    if not _CONTAINER_NAME.match(container):
        raise ValueError(
            f"blob container {container!r} is not a valid name "
            "(3-63 lowercase letters, digits and single hyphens)"
        )
    return BlobTarget(account_url, account, container, "/".join(segments[1:]))


def check_name(name: str) -> str:
    """A relative `/`-separated name inside a location; no hidden or parent parts."""
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or any(
        not part or part.startswith(".") for part in parts
    ):
        raise ValueError(
            f"result name {name!r} must be a relative path of non-empty parts "
            "that do not start with '.'"
        )
    return name

