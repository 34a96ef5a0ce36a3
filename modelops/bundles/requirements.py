"""A bundle's `requirements.txt`, installed once per digest beside its unpacked files.

Requirements the runner's own environment already satisfies are used as they
are; one it has in a version the requirement excludes is a conflict (the
runner cannot import two versions of a package), reported before anything
runs. The rest are installed with pip into `<cache>/<hex>/site-packages`,
which goes on `sys.path` after the bundle's own folder. A bundle that carries
a `wheels/` folder installs from it alone, offline.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from .select import BundleError

REQUIREMENTS = "requirements.txt"
WHEELS = "wheels"
SITE = "site-packages"
_PIP_MISSING = re.compile(r"(?:No matching distribution found for|satisfies the requirement) (\S+)")


def requirements_of(files: Path) -> list[Requirement]:
    """The bundle's requirements that apply on this platform; a line pip would not take is a `BundleError`."""
    path = files / REQUIREMENTS
    if not path.is_file():
        return []
    wanted = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise BundleError(f"{REQUIREMENTS} line {number} ({line!r}) is not a requirement: {exc}") from None
        if requirement.marker is None or requirement.marker.evaluate():
            wanted.append(requirement)
    return wanted


def missing_requirements(requirements: list[Requirement]) -> list[Requirement]:
    """Those this environment lacks; a conflict with an installed version is a `BundleError`."""
    missing = []
    for requirement in requirements:
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement)
            continue
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            raise BundleError(
                f"requirement {str(requirement)!r} conflicts with {requirement.name} {installed}, "
                "which the runner itself uses; require a version that includes it"
            )
    return missing


def prepare_requirements(files: Path) -> Path | None:
    """The folder of the bundle's installed requirements (None when the runner has them all)."""
    missing = missing_requirements(requirements_of(files))
    if not missing:
        return None
    site = files.parent / SITE
    if site.is_dir():
        return site
    staging = files.parent / f".{SITE}.{uuid.uuid4().hex}.tmp"
    try:
        _pip_install(missing, staging, files / WHEELS)
        try:
            os.rename(staging, site)
        except OSError:  # another process installed them first
            if not site.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return site


def _pip_install(requirements: list[Requirement], target: Path, wheels: Path) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
               "--target", str(target)]  # fmt: skip
    if wheels.is_dir():
        command += ["--no-index", "--find-links", str(wheels)]
    result = subprocess.run([*command, *map(str, requirements)], capture_output=True, text=True)
    if result.returncode == 0:
        return
    named = _PIP_MISSING.search(result.stderr)
    which = named.group(1) if named else ", ".join(map(str, requirements))
    where = f"from the bundle's {WHEELS}/ folder" if wheels.is_dir() else "from the package index"
    last = next((line for line in reversed(result.stderr.splitlines()) if line.strip()), "pip failed")
    raise BundleError(f"requirement {which} cannot be installed {where}: {last.strip()}")
