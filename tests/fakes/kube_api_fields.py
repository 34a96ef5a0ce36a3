"""Field ownership (`metadata.managedFields`), server-side apply and JSON merge patch.

A simplified structured-merge-diff, close enough that apply's observable rules hold:
- a manager owns the leaf fields it last applied; co-owners agree on the value;
- applying a value that differs from a field another manager owns is a 409 Conflict
  unless `force`, which takes the field over;
- a field the manager stops applying is removed, unless someone else still owns it;
- re-applying the same configuration changes nothing.
Simplification: lists are atomic (one leaf), where the real server merges lists with
merge keys (containers by name, ports by port); two managers that each set one container
therefore conflict here but not on a cluster. Merge patch follows RFC 7386.
"""
import copy
from datetime import datetime, timezone

MISSING = object()
SERVER_OWNED = {("apiVersion",), ("kind",), ("status",), ("metadata", "name"),
                ("metadata", "namespace"), ("metadata", "uid"), ("metadata", "resourceVersion"),
                ("metadata", "generation"), ("metadata", "creationTimestamp"),
                ("metadata", "managedFields")}

Path = tuple[str, ...]
Owners = dict[tuple[str, str], set[Path]]  # (manager, operation) -> owned leaf paths


def leaf_paths(obj: dict, prefix: Path = ()) -> set[Path]:
    """Every leaf a manager can own; an empty map and a whole list count as one leaf."""
    paths = set()
    for key, value in obj.items():
        path = prefix + (key,)
        if path in SERVER_OWNED:
            continue
        paths |= leaf_paths(value, path) if isinstance(value, dict) and value else {path}
    return paths


def get_path(obj, path: Path):
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return MISSING
        obj = obj[key]
    return obj


def set_path(obj: dict, path: Path, value) -> None:
    for key in path[:-1]:
        if not isinstance(obj.get(key), dict):
            obj[key] = {}
        obj = obj[key]
    if not (value == {} and isinstance(obj.get(path[-1]), dict)):  # applying {} keeps the map
        obj[path[-1]] = copy.deepcopy(value)


def delete_path(obj: dict, path: Path) -> None:
    """Remove a leaf and the maps it leaves empty, below the top level."""
    parents = [obj]
    for key in path[:-1]:
        if not isinstance(parents[-1].get(key), dict):
            return
        parents.append(parents[-1][key])
    parents[-1].pop(path[-1], None)
    for depth in range(len(path) - 1, 1, -1):
        if parents[depth] == {}:
            del parents[depth - 1][path[depth - 1]]


def owners_of(obj: dict) -> Owners:
    return {(entry["manager"], entry["operation"]): _decode(entry["fieldsV1"])
            for entry in obj.get("metadata", {}).get("managedFields", [])}


def managed_fields(owners: Owners, api_version: str, old: dict | None) -> list[dict]:
    """`metadata.managedFields`, keeping an entry's `time` while its fields are unchanged."""
    previous = {(e["manager"], e["operation"]): e for e in (old or {}).get("metadata", {}).get("managedFields", [])}
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = []
    for (manager, operation), paths in owners.items():
        before = previous.get((manager, operation))
        same = before is not None and _decode(before["fieldsV1"]) == paths
        entries.append({"manager": manager, "operation": operation, "apiVersion": api_version,
                        "time": before["time"] if same else now, "fieldsType": "FieldsV1",
                        "fieldsV1": _encode(paths)})
    return entries


def apply(live: dict, config: dict, manager: str, force: bool) -> tuple[dict, Owners, list]:
    """Merge an applied configuration into the live object.

    Returns the merged object, the new owners and the conflicts `(manager, path)` with
    other managers; the caller refuses the apply when there are conflicts and not `force`.
    """
    before = owners_of(live)
    applied = leaf_paths(config)
    mine = (manager, "Apply")
    kept = set().union(*(paths for key, paths in before.items() if key != mine))
    merged = copy.deepcopy(live)
    for path in before.get(mine, set()) - applied - kept:
        delete_path(merged, path)
    for path in applied:
        set_path(merged, path, get_path(config, path))
    conflicts = sorted({(key[0], path) for key, paths in before.items() if key[0] != manager
                        for path in paths if get_path(live, path) != get_path(merged, path)})
    after = {key: paths - {path for who, path in conflicts if who == key[0]}
             for key, paths in before.items() if key != mine}
    after[mine] = applied
    return merged, {key: paths for key, paths in after.items() if paths}, conflicts


def record_update(old: dict | None, new: dict, manager: str) -> Owners:
    """Owners after a non-apply write: the writer takes what it changed, gone fields lose owners."""
    present = leaf_paths(new)
    changed = {path for path in present if old is None or get_path(old, path) != get_path(new, path)}
    after = {key: (paths & present) - changed for key, paths in owners_of(old or {}).items()}
    after[(manager, "Update")] = after.get((manager, "Update"), set()) | changed
    return {key: paths for key, paths in after.items() if paths}


def merge_patch(target, patch):
    """RFC 7386: maps merge recursively, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _encode(paths: set[Path]) -> dict:
    tree: dict = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return tree


def _decode(tree: dict, prefix: Path = ()) -> set[Path]:
    paths = set()
    for key, sub in tree.items():
        path = prefix + (key.removeprefix("f:"),)
        paths |= _decode(sub, path) if sub else {path}
    return paths
