"""Fields the API server will not change on an existing object: an update touching one is a 422.

As the real validation answers it (`field is immutable`, or the StatefulSet's list of the
fields it does let change): a Job's pod template, selector and completion mode, a
StatefulSet's claim templates and governing Service, any workload's selector, a Service's
`clusterIP` (so a headless Service cannot become a ClusterIP one, or back), a claim's spec
other than a larger storage request. Code that re-applies a changed object of these kinds
must replace it; this is where a fake that let it through would hide that.
"""

from .kube_api_errors import cause, invalid

STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                       "minReadySeconds")
_IMMUTABLE = {
    "Job": ("selector", "template", "completionMode"),
    "Deployment": ("selector",),
}
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def check_update(resource, old: dict, new: dict) -> None:
    """Refuse `new` as an update of `old` when it changes what the server keeps fixed."""
    kind, name = resource.kind, old["metadata"]["name"]
    before, after = old.get("spec") or {}, new.get("spec") or {}
    causes = []
    for field in _IMMUTABLE.get(kind, ()):
        if before.get(field) != after.get(field):
            causes.append(cause(f"spec.{field}", f"Invalid value: {_short(after.get(field))}: field is immutable"))
    if kind == "StatefulSet":
        fixed = {k for k in set(before) | set(after) if k not in STATEFULSET_MUTABLE and before.get(k) != after.get(k)}
        if fixed:
            allowed = ", ".join(f"'{f}'" for f in STATEFULSET_MUTABLE)
            causes.append(cause("spec", f"Forbidden: updates to statefulset spec for fields other than {allowed} "
                                        "are forbidden", "FieldValueForbidden"))
    if kind == "Service" and (before.get("clusterIP") or "") != (after.get("clusterIP") or ""):
        causes.append(cause("spec.clusterIP", f"Invalid value: {_short(after.get('clusterIP') or '')}: "
                                              "field is immutable"))
    if kind == "PersistentVolumeClaim":
        causes += _claim_causes(before, after)
    if causes:
        raise invalid(kind, name, causes, resource.group)


def _claim_causes(before: dict, after: dict) -> list[dict]:
    rest = [k for k in set(before) | set(after) if k != "resources" and before.get(k) != after.get(k)]
    size = [_bytes(s.get("resources", {}).get("requests", {}).get("storage", "0")) for s in (before, after)]
    if rest or size[1] < size[0]:
        return [cause("spec", "Forbidden: spec is immutable after creation except resources.requests and "
                              "volumeAttributesClassName for bound claims", "FieldValueForbidden")]
    return []


def _bytes(quantity: str) -> int:
    for unit, factor in _UNITS.items():
        if quantity.endswith(unit):
            return int(float(quantity[: -len(unit)]) * factor)
    return int(quantity)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
