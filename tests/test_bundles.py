"""Bundles: reproducible digests, what goes in, stores (a folder and Azurite), fetch, verify, cache."""

from __future__ import annotations

import gzip
import io
import os
import sys
import tarfile
from pathlib import Path

import pytest

from modelops.bundles import BundleError, BundleStore, build_bundle, fetch, use_bundle
from modelops.bundles.cache import cached_path, evict
from modelops.bundles.select import select_files
from modelops.bundles.store import object_name


def model_folder(root: Path, body: str = "def simulate(params, seed):\n    return {}\n") -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "growth.py").write_text(body)
    (root / "data" / "obs.csv").write_text("day,value\n1,2.0\n")
    (root / "run.yaml").write_text("name: growth\n")
    return root


def test_same_files_give_the_same_digest_wherever_and_whenever(tmp_path):
    a = model_folder(tmp_path / "a")
    b = model_folder(tmp_path / "elsewhere" / "b")
    os.utime(b / "growth.py", (1_000_000, 1_000_000))  # times and folder names do not count
    assert build_bundle(a).digest == build_bundle(b).digest
    assert build_bundle(a).archive == build_bundle(a).archive


def test_one_byte_changed_or_a_file_renamed_or_made_executable_gives_another_digest(tmp_path):
    digest = build_bundle(model_folder(tmp_path / "a")).digest
    changed = model_folder(tmp_path / "b")
    (changed / "data" / "obs.csv").write_text("day,value\n1,3.0\n")
    renamed = model_folder(tmp_path / "c")
    (renamed / "data" / "obs.csv").rename(renamed / "data" / "obs2.csv")
    executable = model_folder(tmp_path / "d")
    (executable / "growth.py").chmod(0o755)
    digests = {digest, *(build_bundle(f).digest for f in (changed, renamed, executable))}
    assert len(digests) == 4


def test_modelopsignore_and_the_defaults_decide_what_goes_in(tmp_path):
    folder = model_folder(tmp_path / "m")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "growth.cpython-311.pyc").write_bytes(b"\0")
    (folder / "runs" / "r1").mkdir(parents=True)
    (folder / "runs" / "r1" / "summary.json").write_text("{}")
    (folder / "scratch").mkdir()
    (folder / "scratch" / "big.bin").write_bytes(b"x" * 100)
    (folder / "notes.tmp").write_text("x")
    (folder / ".modelopsignore").write_text("# mine\nscratch/\n*.tmp\n!runs/\n")
    assert select_files(folder) == [
        ".modelopsignore", "data/obs.csv", "growth.py", "run.yaml", "runs/r1/summary.json",
    ]  # fmt: skip


def test_a_sqlite_study_beside_the_document_leaves_the_digest_alone(tmp_path):
    folder = model_folder(tmp_path / "m")
    digest = build_bundle(folder).digest
    for name in ("study.db", "study.db-wal", "study.db-shm", "study.db.lock"):
        (folder / name).write_bytes(b"journal")  # what `--storage sqlite:///study.db` leaves there
    assert build_bundle(folder).digest == digest  # so resuming that study is not refused as another model


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    folder = model_folder(tmp_path / "m")
    (tmp_path / "secret.txt").write_text("x")
    (folder / "leak.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(BundleError, match="leak.txt links outside the bundle folder"):
        build_bundle(folder)


def test_a_bundle_over_the_limit_is_refused_naming_the_largest_files(tmp_path):
    folder = model_folder(tmp_path / "m")
    (folder / "data" / "huge.parquet").write_bytes(b"x" * 3 * 2**20)
    with pytest.raises(BundleError, match=r"3\.0 MB, over the 2\.0 MB limit .*data/huge\.parquet \(3\.0 MB\)"):
        build_bundle(folder, max_bytes=2 * 2**20)


def test_build_lists_what_went_in(tmp_path):
    bundle = build_bundle(model_folder(tmp_path / "m"))
    assert [(f.path, f.size) for f in bundle.files] == [("data/obs.csv", 16), ("growth.py", 42), ("run.yaml", 13)]
    assert bundle.digest.startswith("sha256:") and len(bundle.digest) == 71


def test_push_to_a_folder_store_skips_a_digest_already_there_and_fetch_verifies(tmp_path):
    bundle = build_bundle(model_folder(tmp_path / "m"))
    store = BundleStore(str(tmp_path / "store"))
    assert store.push(bundle) is True
    assert store.push(bundle) is False
    files = fetch(bundle.digest, store.url, root=tmp_path / "cache")
    assert sorted(p.relative_to(files).as_posix() for p in files.rglob("*") if p.is_file()) == [
        "data/obs.csv", "growth.py", "run.yaml",
    ]  # fmt: skip
    assert build_bundle(files).digest == bundle.digest  # what was unpacked is what was built


def test_tampered_content_is_refused(tmp_path):
    bundle = build_bundle(model_folder(tmp_path / "m"))
    other = build_bundle(model_folder(tmp_path / "n", body="def simulate(p, s):\n    return {'evil': 1}\n"))
    store = BundleStore(str(tmp_path / "store"))
    store.push(bundle)
    (tmp_path / "store" / object_name(bundle.digest)).write_bytes(other.archive)  # same name, other content
    with pytest.raises(BundleError, match=f"bundle {bundle.digest} in .* does not match its digest .*refused"):
        fetch(bundle.digest, store.url, root=tmp_path / "cache")
    (tmp_path / "store" / object_name(bundle.digest)).write_bytes(b"not gzip")
    with pytest.raises(BundleError, match="unreadable content"):
        store.get(bundle.digest)
    assert not cached_path(bundle.digest, tmp_path / "cache").exists()


def test_a_missing_bundle_or_a_bad_digest_is_a_clear_error(tmp_path):
    store = BundleStore(str(tmp_path / "store"))
    digest = "sha256:" + "0" * 64
    with pytest.raises(BundleError, match=f"bundle {digest} is not in the bundle store"):
        fetch(digest, store.url, root=tmp_path / "cache")
    with pytest.raises(BundleError, match="is not on this machine and no bundle store was given"):
        fetch(digest, None, root=tmp_path / "cache")
    with pytest.raises(BundleError, match="is not a digest"):
        fetch("sha256:abc", store.url, root=tmp_path / "cache")


def test_an_archive_with_a_path_out_of_its_folder_is_not_unpacked(tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("../escaped.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    import hashlib

    digest = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    store = tmp_path / "store"
    (store / "sha256").mkdir(parents=True)
    (store / object_name(digest)).write_bytes(gzip.compress(raw.getvalue()))
    with pytest.raises(tarfile.OutsideDestinationError):
        fetch(digest, str(store), root=tmp_path / "cache")
    assert not (tmp_path / "cache" / "escaped.py").exists()


def test_the_cache_keeps_the_most_recently_used_bundles_within_its_bound(tmp_path):
    store = BundleStore(str(tmp_path / "store"))
    digests = []
    for i in range(3):
        folder = model_folder(tmp_path / f"m{i}")
        (folder / "data" / "blob.bin").write_bytes(bytes([i]) * 10_000)
        bundle = build_bundle(folder)
        store.push(bundle)
        digests.append(bundle.digest)
    cache = tmp_path / "cache"
    for digest in digests:
        fetch(digest, store.url, root=cache, max_bytes=25_000)
    kept = [d for d in digests if cached_path(d, cache).is_dir()]
    assert kept == digests[1:]  # the oldest went; the newest is always kept
    assert evict(cache, keep=cached_path(digests[2], cache).parent, max_bytes=0) == [digests[1][7:]]


def test_azurite_blob_store_push_skip_fetch(tmp_path, azurite, monkeypatch):
    monkeypatch.setenv("MODELOPS_STORAGE_CONNECTION_STRING", azurite.connection_string)
    bundle = build_bundle(model_folder(tmp_path / "m"))
    store = BundleStore(f"{azurite.blob_endpoint}/bundles/team-a")
    assert store.push(bundle) is True
    assert store.push(bundle) is False
    assert store.has(bundle.digest)
    files = fetch(bundle.digest, store.url, root=tmp_path / "cache")
    assert (files / "growth.py").read_text().startswith("def simulate")


def test_two_bundles_with_the_same_module_name_never_see_each_others(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_BUNDLE_CACHE", str(tmp_path / "cache"))
    store = BundleStore(str(tmp_path / "store"))
    digests = []
    for answer in (1, 2):
        bundle = build_bundle(model_folder(tmp_path / f"m{answer}", body=f"ANSWER = {answer}\n"))
        store.push(bundle)
        digests.append(bundle.digest)
    saved = list(sys.path)
    try:
        for digest, answer in [(digests[0], 1), (digests[1], 2), (digests[0], 1)]:
            use_bundle(digest, store.url)
            import growth

            assert growth.ANSWER == answer
            del growth
    finally:
        use_bundle(None)
        sys.path[:] = saved
        sys.modules.pop("growth", None)
