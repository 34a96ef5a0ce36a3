"""A model that lives only in a folder of its own is calibrated from its bundle, wherever `mops` runs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelops.bundles import BundleError, build_bundle
from modelops.bundles.requirements import prepare_requirements
from tests.bundle_models import write_growth_folder, write_wheel

ROOT = Path(__file__).resolve().parents[1]


def mops(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real `mops`, with nothing of this repository on the path: the model has only its bundle."""
    exe = Path(sys.executable).with_name("mops")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | (env or {})
    return subprocess.run([str(exe), *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=300)


def last_json(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_model_only_in_its_own_folder_is_calibrated_from_an_unrelated_directory(tmp_path):
    spec = write_growth_folder(tmp_path / "my-model")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "growth.py").write_text("raise RuntimeError('imported from the working directory')\n")
    (elsewhere / "data").mkdir()
    (elsewhere / "data" / "cases.csv").write_text("day,cases\n0,99\n")  # a decoy the run must not read
    result = mops("run", str(spec), "--local", "--json", "--quiet", "--out", str(tmp_path / "runs"), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    summary = last_json(result)
    assert (summary["status"], summary["n_trials"], summary["n_failed"]) == ("completed", 6, 0)
    digest = build_bundle(spec.parent).digest
    written = json.loads((Path(summary["results"]) / "summary.json").read_text())
    data_hash = hashlib.sha256((spec.parent / "data" / "cases.csv").read_bytes()).hexdigest()
    assert written["provenance"] == {
        "bundle": digest,
        "spec_sha256": summary["spec_sha256"],
        "targets": {"growth": {"data": "data/cases.csv", "sha256": data_hash}},
        "runner_version": "0.1.0",
    }


def test_mops_bundle_build_prints_the_files_and_the_digest_and_push_skips_a_stored_one(tmp_path):
    spec = write_growth_folder(tmp_path / "my-model")
    (spec.parent / ".modelopsignore").write_text("notes/\n")
    (spec.parent / "notes").mkdir()
    (spec.parent / "notes" / "draft.txt").write_text("x")
    built = mops("bundle", "build", str(spec.parent), "--json", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    listing = json.loads(built.stdout)
    assert [f["path"] for f in listing["files"]] == [".modelopsignore", "data/cases.csv", "growth.py", "helpers.py",
                                                     "run.yaml"]  # fmt: skip
    store = tmp_path / "store"
    first = mops("bundle", "push", str(spec.parent), "--to", str(store), cwd=tmp_path)
    again = mops("bundle", "push", str(spec.parent), "--to", str(store), cwd=tmp_path)
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert first.stdout.strip() == again.stdout.strip() == listing["digest"]
    assert "pushed" in first.stderr and "already in" in again.stderr


def test_a_pushed_bundle_named_by_digest_runs_from_its_store(tmp_path):
    spec = write_growth_folder(tmp_path / "my-model")
    store = tmp_path / "store"
    digest = mops("bundle", "push", str(spec.parent), "--to", str(store), cwd=tmp_path).stdout.strip()
    only_doc = tmp_path / "doc-only"
    only_doc.mkdir()
    text = spec.read_text().replace("entrypoint: growth:simulate", f"bundle: '{digest}'\n  entrypoint: growth:simulate")
    (only_doc / "run.yaml").write_text(text)
    env = {"MODELOPS_BUNDLE_STORE": str(store), "MODELOPS_BUNDLE_CACHE": str(tmp_path / "fresh-cache")}
    result = mops("run", "run.yaml", "--local", "--json", "--quiet", "--out", str(tmp_path / "runs"), cwd=only_doc,
                  env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert last_json(result)["provenance"]["bundle"] == digest


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": {"entrypoint": "absent:simulate"}}, "model.entrypoint: cannot import module 'absent'"),
        ({"targets": {"growth": {"data": "../cases.csv", "keys": ["day"], "value": "cases"}}},
         "targets.growth.data: ../cases.csv is outside the document's folder"),
        ({"model": {"entrypoint": "growth:simulate", "bundle": "sha256:" + "0" * 64}},
         "is not on this machine and no bundle store was given"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_before_any_simulation(tmp_path, change, message):
    calls = tmp_path / "calls.log"
    spec = write_growth_folder(tmp_path / "my-model", **change)
    result = mops("run", str(spec), "--local", "--quiet", "--out", str(tmp_path / "runs"), cwd=tmp_path,
                  env={"GROWTH_CALLS": str(calls), "MODELOPS_BUNDLE_CACHE": str(tmp_path / "cache")})  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not calls.exists()


def test_a_bundle_over_the_limit_is_refused_before_any_simulation(tmp_path):
    spec = write_growth_folder(tmp_path / "my-model")
    (spec.parent / "data" / "big.bin").write_bytes(b"x" * 3000)
    result = mops("run", str(spec), "--local", "--quiet", cwd=tmp_path, env={"MODELOPS_BUNDLE_MAX_BYTES": "2000"})
    assert result.returncode == 2 and "over the 2000 bytes limit (MODELOPS_BUNDLE_MAX_BYTES)" in result.stderr


def test_requirements_install_offline_from_the_bundles_wheels_once_per_digest(tmp_path):
    model = "import polars as pl\nimport tinydep\n\ndef simulate(params, seed):\n" \
            "    return {'growth': pl.DataFrame({'day': [0, 1, 2, 3], 'cases': [tinydep.VALUE * 0.0] * 4})}\n"
    spec = write_growth_folder(tmp_path / "my-model", model_code=model)
    (spec.parent / "requirements.txt").write_text("# the model's own dependency\ntinydep==0.1\npolars\n")
    write_wheel(spec.parent / "wheels")
    result = mops("run", str(spec), "--local", "--json", "--quiet", "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert last_json(result)["n_failed"] == 0
    digest = build_bundle(spec.parent).digest
    site = Path(os.environ["MODELOPS_BUNDLE_CACHE"]) / digest.removeprefix("sha256:") / "site-packages"
    assert (site / "tinydep" / "__init__.py").is_file()
    assert not (site / "polars").exists()  # the runner's own polars satisfies `polars`


def test_a_requirement_that_cannot_be_installed_is_named_before_any_simulation(tmp_path):
    calls = tmp_path / "calls.log"
    spec = write_growth_folder(tmp_path / "my-model")
    (spec.parent / "requirements.txt").write_text("tinydep==0.1\nnot-a-package-anywhere==9.9\n")
    write_wheel(spec.parent / "wheels")
    result = mops("run", str(spec), "--local", "--quiet", cwd=tmp_path, env={"GROWTH_CALLS": str(calls)})
    assert result.returncode == 2
    assert "requirement not-a-package-anywhere==9.9 cannot be installed from the bundle's wheels/ folder" in result.stderr
    assert not calls.exists()


def test_a_requirement_conflicting_with_the_runner_is_refused(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "requirements.txt").write_text("numpy==1.0.0 ; python_version >= '3'\nnever-here ; python_version < '3'\n")
    with pytest.raises(BundleError, match=r"requirement 'numpy==1.0.0.*' conflicts with numpy 2\.4\.6"):
        prepare_requirements(folder)
    (folder / "requirements.txt").write_text("numpy>=2\n--index-url x\n")
    with pytest.raises(BundleError, match=r"line 2 \('--index-url x'\) is not a requirement"):
        prepare_requirements(folder)


def test_the_executor_runs_each_bundles_model_in_its_own_children_from_its_folder(tmp_path):
    from modelops.bundles import BundleStore, set_default_store
    from modelops.ipc import ipc_to_table
    from modelops.services.executor import simulate
    from modelops_contracts import SimTask, UniqueParameterSet

    store = BundleStore(str(tmp_path / "store"))
    digests = []
    for answer in (1, 2):
        folder = tmp_path / f"m{answer}"
        code = ("import polars as pl\n\ndef simulate(params, seed):\n"
                f"    return {{'growth': pl.DataFrame({{'answer': [{answer}], 'cwd_file': [open('marker').read()]}})}}\n")
        write_growth_folder(folder, model_code=code)
        (folder / "marker").write_text(f"bundle {answer}")
        bundle = build_bundle(folder)
        store.push(bundle)
        digests.append(bundle.digest)
    set_default_store(store.url)
    try:
        pset = UniqueParameterSet.from_dict({"rate": 1.0})
        for digest, answer in [(digests[0], 1), (digests[1], 2), (digests[0], 1)]:
            [(result, diagnostics)] = simulate([SimTask(digest, "growth:simulate", pset, 7)])
            assert diagnostics is None, diagnostics
            table = ipc_to_table(result.outputs["growth"].inline)
            assert table.to_dict(as_series=False) == {"answer": [answer], "cwd_file": [f"bundle {answer}"]}
    finally:
        set_default_store(None)
