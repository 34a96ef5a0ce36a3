"""The Function App's requirements.txt and pyproject.toml pin the same versions."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]+\])?==([^\s;]+)$")


def pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            match = PIN.match(line)
            assert match, f"not pinned with ==: {line!r}"
            out[match.group(1).lower()] = match.group(3)
    return out


def test_every_dependency_is_pinned_and_requirements_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = pins(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared |= pins(extra)
    required = pins((ROOT / "requirements.txt").read_text().splitlines())
    assert required, "requirements.txt is empty"
    for name, version in required.items():
        assert declared.get(name) == version, f"{name}: requirements.txt {version}, pyproject {declared.get(name)}"
    functions = pins(project["optional-dependencies"]["functions"])
    assert set(functions) <= set(required), "the Function App must install the functions extra"
