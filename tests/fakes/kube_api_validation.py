"""What the API server checks before it stores an object, so bad manifests fail in tests.

Schema: the object must match the Kubernetes OpenAPI schema of `kubernetes_version`
(via kubernetes-validate, strict). Unknown or mistyped fields are a 400, as the server
answers with `fieldValidation=Strict`; by default a cluster would drop unknown fields with
only a warning, which is exactly the silent failure this fake refuses. Missing required
fields are a 422. Names, label and annotation keys, label values and Secret/ConfigMap data
keys follow the server's validation rules and give 422 with one cause per field.
"""
import base64
import binascii
import re

import kubernetes_validate

from .kube_api_errors import bad_request, cause, invalid
from .kube_api_resources import ResourceType

NAME_RULES = {
    "label": (re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"), 63,
              "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
              "or '-', and must start and end with an alphanumeric character"),
    "dns1035": (re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?"), 63,
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character"),
    "subdomain": (re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"), 253,
                  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric character"),
}
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
DATA_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def check(resource: ResourceType, obj: dict, kubernetes_version: str) -> None:
    """Raise the `KubeError` the server would answer with for this object, if any."""
    _check_schema(obj, kubernetes_version)
    meta = obj["metadata"]
    causes = _name_causes(resource, meta["name"])
    for field in ("labels", "annotations"):
        for key, value in meta.get(field, {}).items():
            causes += [cause(f"metadata.{field}", f'Invalid value: "{key}": {problem}')
                       for problem in _qualified_name_problems(key)]
            if field == "labels" and (len(value) > 63 or not LABEL_VALUE.fullmatch(value)):
                causes.append(cause("metadata.labels", f'Invalid value: "{value}": a valid label '
                                    "value must be 63 characters or less, empty or alphanumeric "
                                    "with '-', '_' or '.' inside"))
    for field in ("data", "binaryData"):
        causes += [cause(f"{field}[{key}]", f'Invalid value: "{key}": a valid config key must '
                         "consist of alphanumeric characters, '-', '_' or '.'")
                   for key in obj.get(field, {}) if not DATA_KEY.fullmatch(key)]
    if causes:
        raise invalid(resource.kind, meta["name"], causes, resource.group)
    if resource.kind == "Secret":
        for key, value in obj.get("data", {}).items():
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error as error:
                raise bad_request(f"Secret in version \"v1\" cannot be handled as a Secret: "
                                  f"illegal base64 data in data[{key}]: {error}") from None


def _check_schema(obj: dict, kubernetes_version: str) -> None:
    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        field = ".".join(str(part) for part in error.absolute_path) or "<root>"
        name = obj.get("metadata", {}).get("name", "")
        if error.validator == "required":
            raise invalid(obj["kind"], name, [cause(field, f"Required value: {error.message}",
                                                    "FieldValueRequired")]) from None
        raise bad_request(f"strict decoding error: {field}: {error.message}") from None


def _name_causes(resource: ResourceType, name: str) -> list[dict]:
    pattern, longest, rule = NAME_RULES[resource.name_rule]
    problems = [f"must be no more than {longest} characters"] if len(name) > longest else []
    if not pattern.fullmatch(name):
        problems.append(f"{rule} (regex used for validation is '{pattern.pattern}')")
    return [cause("metadata.name", f'Invalid value: "{name}": {problem}') for problem in problems]


def _qualified_name_problems(key: str) -> list[str]:
    prefix, _, name = key.rpartition("/")
    problems = []
    if prefix and (len(prefix) > 253 or not NAME_RULES["subdomain"][0].fullmatch(prefix)):
        problems.append("prefix part must be a lowercase RFC 1123 subdomain")
    if len(name) > 63 or not QUALIFIED_NAME.fullmatch(name):
        problems.append("name part must be 63 characters or less, alphanumeric with '-', '_' "
                        "or '.' inside")
    return problems
