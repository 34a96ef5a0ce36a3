import io
import json
import pathlib
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from azure.storage.blob import BlobServiceClient

from modelops.storage import BlobTarget, LocalTarget, open_results, parse_results_url
from modelops.storage.blob_results import CONNECTION_STRING_ENV


def small_parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"param_id": ["a", "b"], "loss": [0.5, 1.25]}), sink)
    return sink.getvalue()


def round_trip(results) -> None:
    parquet, doc = small_parquet(), json.dumps({"best": "a"}).encode()
    results.write_bytes("trials.parquet", parquet)
    results.write_bytes("runs/summary.json", doc)
    assert results.read_bytes("trials.parquet") == parquet
    assert pq.read_table(io.BytesIO(results.read_bytes("trials.parquet")))["loss"].to_pylist() == [0.5, 1.25]
    assert json.loads(results.read_bytes("runs/summary.json")) == {"best": "a"}
    assert results.list() == ["runs/summary.json", "trials.parquet"]
    assert results.exists("trials.parquet") and not results.exists("missing.json")
    with pytest.raises(FileNotFoundError):
        results.read_bytes("missing.json")

    results.write_bytes("runs/summary.json", b"{}")  # overwriting is allowed and idempotent
    results.write_bytes("runs/summary.json", b"{}")
    assert results.read_bytes("runs/summary.json") == b"{}"
    assert results.list() == ["runs/summary.json", "trials.parquet"]

    results.delete("runs/summary.json")
    results.delete("runs/summary.json")  # deleting what is gone is fine
    assert results.list() == ["trials.parquet"] and not results.exists("runs/summary.json")


# --- local -------------------------------------------------------------------

def test_local_round_trip_creates_the_folder(tmp_path: pathlib.Path):
    folder = tmp_path / "results" / "run-1"
    results = open_results(str(folder))
    assert folder.is_dir() and results.list() == []
    round_trip(results)
    assert str(results) == str(folder)
    assert results.url_for("trials.parquet") == str(folder / "trials.parquet")
    assert not [p for p in folder.rglob(".*")], "no temp files are left behind"


def test_local_accepts_file_urls(tmp_path: pathlib.Path):
    results = open_results((tmp_path / "r").as_uri())
    results.write_bytes("x.json", b"1")
    assert (tmp_path / "r" / "x.json").read_bytes() == b"1"


@pytest.mark.parametrize("name", ["", "/abs.json", "../up.json", "a/../b", "a//b", ".hidden", "a\\b"])
def test_names_must_stay_inside_the_location(tmp_path: pathlib.Path, name: str):
    with pytest.raises(ValueError, match="result name"):
        open_results(str(tmp_path)).write_bytes(name, b"x")


# --- blob (Azurite) ----------------------------------------------------------

@pytest.fixture
def azurite_env(azurite, monkeypatch):
    monkeypatch.setenv(CONNECTION_STRING_ENV, azurite.connection_string)
    return azurite


def test_blob_round_trip_creates_the_container(azurite_env):
    container = f"results-{uuid.uuid4().hex[:8]}"
    url = f"{azurite_env.blob_endpoint}/{container}/calib/run-1"
    service = BlobServiceClient.from_connection_string(azurite_env.connection_string)
    assert not service.get_container_client(container).exists()

    results = open_results(url)
    assert results.list() == [] and not results.exists("trials.parquet")
    round_trip(results)
    assert service.get_container_client(container).exists()
    assert str(results) == url
    assert results.url_for("trials.parquet") == f"{url}/trials.parquet"
    names = [b.name for b in service.get_container_client(container).list_blobs()]
    assert names == ["calib/run-1/trials.parquet"]  # under its prefix; the deleted one is gone


def test_blob_locations_with_other_prefixes_do_not_see_each_other(azurite_env):
    base = f"{azurite_env.blob_endpoint}/shared-{uuid.uuid4().hex[:8]}"
    first, second = open_results(f"{base}/a"), open_results(f"{base}/b")
    first.write_bytes("x.json", b"1")
    second.write_bytes("x.json", b"2")  # container already exists: tolerated
    assert first.list() == ["x.json"] and second.read_bytes("x.json") == b"2"
    assert open_results(base).list() == ["a/x.json", "b/x.json"]


def test_blob_refuses_a_connection_string_for_another_account(azurite_env):
    with pytest.raises(ValueError, match=CONNECTION_STRING_ENV) as error:
        open_results("https://acct.blob.core.windows.net/results")
    assert "AccountKey" not in str(error.value)


# --- URL parsing -------------------------------------------------------------

@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acct.blob.core.windows.net/results",
         BlobTarget("https://acct.blob.core.windows.net", "acct", "results", "")),
        ("https://acct.blob.core.windows.net/results/calib/run-1/",
         BlobTarget("https://acct.blob.core.windows.net", "acct", "results", "calib/run-1")),
        ("http://127.0.0.1:10000/devstoreaccount1/results/run-1",
         BlobTarget("http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1",
                    "results", "run-1")),
        ("http://localhost:10000/devstoreaccount1/results",
         BlobTarget("http://localhost:10000/devstoreaccount1", "devstoreaccount1",
                    "results", "")),
    ],
)
def test_parse_blob_urls(url, expected):
    assert parse_results_url(url) == expected
    assert parse_results_url(url).url == url.rstrip("/")


def test_parse_local_paths(tmp_path: pathlib.Path):
    assert parse_results_url(str(tmp_path)) == LocalTarget(tmp_path)
    assert parse_results_url(tmp_path.as_uri()) == LocalTarget(tmp_path)
    assert parse_results_url("relative/dir") == LocalTarget(pathlib.Path.cwd() / "relative/dir")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("s3://bucket/prefix", "unsupported results URL scheme 's3'"),
        ("abfss://fs@acct.dfs.core.windows.net/x", "unsupported results URL scheme"),
        ("https://acct.blob.core.windows.net", "has no container"),
        ("https://acct.blob.core.windows.net/", "has no container"),
        ("http://127.0.0.1:10000/devstoreaccount1", "has no container"),
        ("http://127.0.0.1:10000/devstoreaccount1/", "has no container"),
        ("http://acct.blob.core.windows.net/results", "must use https"),
        ("https://example.com/results/x", "unsupported blob URL"),
        ("https://acct.blob.core.windows.net/Bad_Name", "not a valid name"),
        ("file://otherhost/tmp/x", "must name a local path"),
    ],
)
def test_parse_rejects_unsupported_urls(url, message):
    with pytest.raises(ValueError, match=message):
        parse_results_url(url)


@pytest.mark.parametrize("url", ["https://acct.blob.core.windows.net/results?sv=2024&sig=SECRET",
                                 "https://user:SECRET@acct.blob.core.windows.net/results"])
def test_parse_never_echoes_credentials(url):
    with pytest.raises(ValueError, match="credentials come from the environment") as error:
        parse_results_url(url)
    assert "SECRET" not in str(error.value)
