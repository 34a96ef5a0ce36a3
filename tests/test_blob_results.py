"""A run's results written to Blob Storage (Azurite) read back identical to a local run's."""

import io
import json

import polars as pl

from modelops.spec import parse_spec, preflight
from modelops.storage import open_results
from modelops.storage.blob_results import CONNECTION_STRING_ENV
from runner.calibrate import calibrate
from tests.documents import quadratic_doc, write_curve

TIMING = ["submitted_at", "finished_at", "duration_s", "sim_seconds"]
VOLATILE = {"started_at", "finished_at", "elapsed_seconds", "results", "runner_id"}


def test_results_in_azurite_match_a_local_run(dask_client, tmp_path, azurite, monkeypatch):
    monkeypatch.setenv(CONNECTION_STRING_ENV, azurite.connection_string)
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc(budget={"trials": 16}, compute={"in_flight": 4}))
    observed = preflight(spec, tmp_path)
    blob_url = f"{azurite.blob_endpoint}/results/runs/blob-1"
    summaries = {
        where: calibrate(spec, observed, dask_client, run_id="blob-1", results_url=url, deterministic=True)
        for where, url in {"local": str(tmp_path / "local"), "blob": blob_url}.items()
    }
    assert summaries["blob"]["results"] == blob_url
    remote = open_results(blob_url)
    assert remote.list() == ["summary.json", "trials.parquet"]
    from_blob = pl.read_parquet(io.BytesIO(remote.read_bytes("trials.parquet")))
    local = pl.read_parquet(tmp_path / "local" / "trials.parquet")
    assert from_blob.height == 16
    assert from_blob.drop(TIMING).equals(local.drop(TIMING))
    blob_summary = json.loads(remote.read_bytes("summary.json"))
    assert blob_summary == summaries["blob"]
    local_summary = json.loads((tmp_path / "local" / "summary.json").read_text())
    assert {k: v for k, v in blob_summary.items() if k not in VOLATILE} == {
        k: v for k, v in local_summary.items() if k not in VOLATILE
    }
