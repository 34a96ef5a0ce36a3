import polars as pl
import pyarrow as pa
import pytest

from modelops.ipc import from_ipc, ipc_to_table, to_ipc


def test_polars_and_arrow_round_trip_through_ipc_bytes():
    frame = pl.DataFrame({"day": [1, 2, 3], "incidence": [4.0, 5.5, None]})
    table = pa.table({"name": ["a", "b"], "n": pa.array([1, 2], pa.int32())})
    encoded = to_ipc({"frame": frame, "table": table})
    assert all(isinstance(v, bytes) for v in encoded.values())
    decoded = from_ipc(encoded)
    assert decoded["frame"].equals(frame)
    assert decoded["table"].to_dict(as_series=False) == table.to_pydict()
    assert decoded["table"].schema["n"] == pl.Int32


def test_ipc_bytes_are_an_arrow_stream_any_reader_can_open():
    data = to_ipc({"x": pl.DataFrame({"a": [1]})})["x"]
    assert pa.ipc.open_stream(data).read_all().column("a").to_pylist() == [1]
    assert ipc_to_table(data).to_dict(as_series=False) == {"a": [1]}


@pytest.mark.parametrize("value", [[1, 2], {"a": [1]}, "text", None])
def test_anything_but_a_table_is_a_type_error_naming_the_output(value):
    with pytest.raises(TypeError, match=r"output 'incidence': expected polars.DataFrame or pyarrow.Table"):
        to_ipc({"ok": pl.DataFrame({"a": [1]}), "incidence": value})


def test_outputs_must_be_a_mapping():
    with pytest.raises(TypeError, match="expected a mapping"):
        to_ipc([pl.DataFrame({"a": [1]})])


def test_decoding_gives_polars_public_readers_frame_and_refuses_what_it_refuses():
    frame = pl.DataFrame(
        {"day": [1, 2], "name": ["a", None], "when": pl.Series([0, 1], dtype=pl.Datetime("ms")), "x": [[1.0], []]}
    )
    data = to_ipc({"f": frame})["f"]
    assert ipc_to_table(data).equals(pl.read_ipc_stream(data)) and ipc_to_table(data).schema == frame.schema
    for broken in (data[: len(data) // 2], b"not arrow"):
        with pytest.raises(Exception) as public:
            pl.read_ipc_stream(broken)
        with pytest.raises(type(public.value)):
            ipc_to_table(broken)
