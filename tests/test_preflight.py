import polars as pl
import pytest

from modelops.spec import SpecError, parse_spec, preflight
from tests.documents import quadratic_doc, write_curve


def errors_of(doc, folder) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        preflight(parse_spec(doc), folder)
    return {e.field: e.msg for e in info.value.errors}


def test_a_sound_document_loads_only_the_needed_target_columns(tmp_path):
    pl.DataFrame({"t": [0, 1, 2], "value": [1.0, 2.0, 3.0], "note": ["a", "b", "c"]}).write_csv(tmp_path / "curve.csv")
    observed = preflight(parse_spec(quadratic_doc()), tmp_path)
    assert observed["curve"].columns == ["t", "value"]


@pytest.mark.parametrize(
    "entrypoint, fragment",
    [
        ("no_such_package.model:simulate", "cannot import module 'no_such_package.model': ModuleNotFoundError"),
        ("tests.models:missing", "module 'tests.models' has no attribute 'missing'"),
        ("tests.models.Missing/summer", "has no attribute 'Missing'"),
        ("tests.models.quadratic/summer", "must name a class"),
    ],
)
def test_an_entrypoint_that_does_not_import_names_model_entrypoint(tmp_path, entrypoint, fragment):
    write_curve(tmp_path)
    errors = errors_of(quadratic_doc(model={"entrypoint": entrypoint}), tmp_path)
    assert fragment in errors["model.entrypoint"]


def test_a_missing_target_file_names_the_target(tmp_path):
    errors = errors_of(quadratic_doc(), tmp_path)
    assert errors == {"targets.curve.data": "file not found: curve.csv"}


@pytest.mark.parametrize(
    "frame, fragment",
    [
        (pl.DataFrame({"t": [0, 1], "other": [1.0, 2.0]}), "lacks column(s) ['value']"),
        (pl.DataFrame({"t": [0, 1], "value": ["a", "b"]}), "not numeric"),
        (pl.DataFrame({"t": [0, 0], "value": [1.0, 2.0]}), "duplicate rows"),
        (pl.DataFrame({"t": [0, 1], "value": [1.0, None]}), "missing values"),
    ],
)
def test_a_target_file_without_usable_columns_is_rejected(tmp_path, frame, fragment):
    frame.write_csv(tmp_path / "curve.csv")
    assert fragment in errors_of(quadratic_doc(), tmp_path)["targets.curve.data"]


def test_unsupported_or_unreadable_target_files_are_rejected(tmp_path):
    (tmp_path / "curve.xlsx").write_text("not a spreadsheet")
    (tmp_path / "broken.parquet").write_text("not parquet")
    doc = quadratic_doc(
        targets={
            "a": {"data": "curve.xlsx", "keys": ["t"], "value": "value"},
            "b": {"data": "broken.parquet", "keys": ["t"], "value": "value"},
        }
    )
    errors = errors_of(doc, tmp_path)
    assert "unsupported file type '.xlsx'" in errors["targets.a.data"]
    assert "cannot read broken.parquet" in errors["targets.b.data"]


def test_custom_loss_and_algorithm_entrypoints_must_import(tmp_path):
    write_curve(tmp_path)
    doc = quadratic_doc(algorithm={"name": "nowhere:Algo"})
    doc["targets"]["curve"]["loss"] = "tests.models:no_loss"
    errors = errors_of(doc, tmp_path)
    assert "cannot import module 'nowhere'" in errors["algorithm.name"]
    assert "has no attribute 'no_loss'" in errors["targets.curve.loss"]


def test_every_problem_is_reported_at_once(tmp_path):
    errors = errors_of(quadratic_doc(model={"entrypoint": "nowhere:sim"}), tmp_path)
    assert set(errors) == {"model.entrypoint", "targets.curve.data"}


def test_target_data_can_live_in_blob_storage(tmp_path, azurite, monkeypatch):
    from modelops.storage import open_results
    from modelops.storage.blob_results import CONNECTION_STRING_ENV

    monkeypatch.setenv(CONNECTION_STRING_ENV, azurite.connection_string)
    folder = f"{azurite.blob_endpoint}/targets/sir"
    open_results(folder).write_bytes("curve.csv", write_curve(tmp_path, values=(1.0, 2.0, 3.0)).read_bytes())
    doc = quadratic_doc()
    doc["targets"]["curve"]["data"] = f"{folder}/curve.csv"
    observed = preflight(parse_spec(doc), tmp_path / "elsewhere")
    assert observed["curve"]["value"].to_list() == [1.0, 2.0, 3.0]
    doc["targets"]["curve"]["data"] = f"{folder}/missing.csv"
    assert errors_of(doc, tmp_path) == {"targets.curve.data": f"file not found: {folder}/missing.csv"}
