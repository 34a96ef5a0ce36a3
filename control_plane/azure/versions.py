"""Which Kubernetes version a new AKS cluster gets, from what the region offers today.

AKS refuses versions past their platform support (unless LTS, which needs the Premium tier),
and the list moves every few months: so no version is written down here. The region's
offer (`listKubernetesVersions`, as plain dicts from `operations.region_versions`) is read at
environment creation; the newest generally available minor wins unless the operator pinned
one (`MODELOPS_KUBERNETES_VERSION`), and a pin AKS no longer accepts fails naming those it does.
Pure, so the rules are tested without ARM.
"""

from __future__ import annotations

from typing import Any

#: The support plan of the Free and Standard tiers ModelOps clusters use; LTS needs Premium.
COMMUNITY = "KubernetesOfficial"


class VersionNotOffered(ValueError):
    """A pinned version the region does not accept for a new cluster."""


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def accepted(offered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The minors a Free/Standard cluster can be created on: GA, under community support; oldest first."""
    usable = [minor for minor in offered if not minor["preview"] and COMMUNITY in minor["plans"]]
    return sorted(usable, key=lambda minor: _key(minor["version"]))


def resolve(pinned: str, offered: list[dict[str, Any]], location: str) -> str:
    """The exact patch version to create a cluster on: the newest patch of the pinned minor, the
    pinned patch itself, or (no pin) the newest patch of the newest accepted minor."""
    usable = accepted(offered)
    if not usable:
        raise VersionNotOffered(f"AKS offers no generally available Kubernetes version in {location}")
    pinned = pinned.strip()
    if not pinned:
        return _newest_patch(usable[-1])
    minor_of_pin = ".".join(pinned.split(".")[:2])
    for minor in usable:
        if minor["version"] == minor_of_pin:
            if pinned == minor_of_pin:
                return _newest_patch(minor)
            if pinned in minor["patches"]:
                return pinned
    names = ", ".join(f"{m['version']} ({', '.join(sorted(m['patches'], key=_key))})" for m in usable)
    raise VersionNotOffered(f"Kubernetes {pinned} is not accepted by AKS for new clusters in {location}; "
                            f"accepted now: {names}. Set MODELOPS_KUBERNETES_VERSION to one of them, or "
                            "leave it empty for the newest")


def support(version: str | None, offered: list[dict[str, Any]]) -> dict[str, Any]:
    """What the doctor says of a running version: its support state and the versions it can go to.

    `state` is "supported" (community support, GA), "preview", "lts-only" (Premium tier only) or
    "unsupported" (the region no longer lists it: upgrade now).
    """
    if not version:
        return {"state": "unknown", "upgrades": []}
    minor_of = ".".join(version.split(".")[:2])
    for minor in offered:
        if minor["version"] == minor_of:
            if minor["preview"]:
                state = "preview"
            elif COMMUNITY in minor["plans"]:
                state = "supported"
            else:
                state = "lts-only"
            upgrades = minor["patches"].get(version, [])
            return {"state": state, "upgrades": sorted(upgrades, key=_key)}
    return {"state": "unsupported", "upgrades": []}


def _newest_patch(minor: dict[str, Any]) -> str:
    return max(minor["patches"], key=_key) if minor["patches"] else minor["version"]
