"""TableArtifact, ErrorInfo and SimReturn: what a simulation hands back."""

import hashlib
import pickle

import pyarrow as pa
import pytest

from modelops_contracts import (
    ARROW_STREAM_CONTENT_TYPE,
    ContractViolationError,
    ErrorInfo,
    SimReturn,
    TableArtifact,
)

EMPTY_BLAKE256 = "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"  # b2sum -l 256
CHECKSUM = "ab" * 32


def arrow_stream_bytes() -> bytes:
    table = pa.table({"t": [0, 1, 2], "infected": [1.0, 4.0, 9.0]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


class TestTableArtifact:
    def test_from_bytes_fills_size_checksum_and_content_type(self):
        data = arrow_stream_bytes()
        artifact = TableArtifact.from_bytes(data)
        assert artifact.inline == data and artifact.ref is None
        assert artifact.size == len(data)
        assert artifact.checksum == hashlib.blake2b(data, digest_size=32).hexdigest()
        assert artifact.content_type == ARROW_STREAM_CONTENT_TYPE == "application/vnd.apache.arrow.stream"
        assert pa.ipc.open_stream(artifact.inline).read_all().num_rows == 3

    def test_checksum_matches_an_independent_blake2b_tool(self):
        assert TableArtifact.from_bytes(b"").checksum == EMPTY_BLAKE256

    def test_from_bytes_accepts_bytearray_and_rejects_text(self):
        assert TableArtifact.from_bytes(bytearray(b"xy")).inline == b"xy"
        with pytest.raises(ContractViolationError, match="data must be bytes"):
            TableArtifact.from_bytes("xy")  # type: ignore[arg-type]

    def test_ref_artifact_is_valid_without_bytes(self):
        artifact = TableArtifact(size=10, checksum=CHECKSUM, ref="cas://ab/cd")
        assert artifact.inline is None and artifact.ref == "cas://ab/cd"

    def test_exactly_one_of_inline_or_ref(self):
        with pytest.raises(ContractViolationError, match="exactly one of inline or ref"):
            TableArtifact(size=0, checksum=EMPTY_BLAKE256)
        with pytest.raises(ContractViolationError, match="exactly one of inline or ref"):
            TableArtifact(size=0, checksum=EMPTY_BLAKE256, inline=b"", ref="cas://x")

    def test_inline_size_must_match_the_bytes(self):
        with pytest.raises(ContractViolationError, match="size 3 does not match the 2 inline bytes"):
            TableArtifact(size=3, checksum=hashlib.blake2b(b"ab", digest_size=32).hexdigest(), inline=b"ab")

    def test_inline_checksum_must_match_the_bytes(self):
        with pytest.raises(ContractViolationError, match="checksum does not match the inline bytes"):
            TableArtifact(size=2, checksum=CHECKSUM, inline=b"ab")

    @pytest.mark.parametrize("bad", ["", "AB" * 32, "ab" * 31, "zz" * 32, None])
    def test_checksum_must_be_64_lowercase_hex(self, bad):
        with pytest.raises(ContractViolationError, match="checksum must be 64 lowercase hex"):
            TableArtifact(size=1, checksum=bad, ref="cas://x")

    @pytest.mark.parametrize("bad", [-1, 1.5, True])
    def test_size_must_be_a_non_negative_int(self, bad):
        with pytest.raises(ContractViolationError, match="size must be"):
            TableArtifact(size=bad, checksum=CHECKSUM, ref="cas://x")

    def test_content_type_is_fixed_to_arrow_stream(self):
        with pytest.raises(ContractViolationError, match="content_type must be"):
            TableArtifact(size=1, checksum=CHECKSUM, ref="cas://x", content_type="application/parquet")

    def test_ref_must_be_non_empty_and_inline_must_be_bytes(self):
        with pytest.raises(ContractViolationError, match="ref must be a non-empty string"):
            TableArtifact(size=1, checksum=CHECKSUM, ref="")
        with pytest.raises(ContractViolationError, match="inline must be bytes"):
            TableArtifact(size=2, checksum=CHECKSUM, inline="ab")

    def test_fields_are_keyword_only(self):
        with pytest.raises(TypeError):
            TableArtifact(1, CHECKSUM)  # type: ignore[misc]


class TestErrorInfo:
    def test_defaults_to_not_retryable(self):
        info = ErrorInfo("ValueError", "bad beta")
        assert (info.error_type, info.message, info.retryable) == ("ValueError", "bad beta", False)

    def test_rejects_bad_fields(self):
        with pytest.raises(ContractViolationError, match="error_type must be a non-empty string"):
            ErrorInfo("", "m")
        with pytest.raises(ContractViolationError, match="message must be a string"):
            ErrorInfo("E", None)  # type: ignore[arg-type]
        with pytest.raises(ContractViolationError, match="retryable must be a bool"):
            ErrorInfo("E", "m", retryable="yes")  # type: ignore[arg-type]


class TestSimReturn:
    def test_outputs_and_metrics_are_read_only_copies(self):
        outputs = {"incidence": TableArtifact.from_bytes(b"x")}
        metrics = {"seconds": 1.5, "rows": 3}
        result = SimReturn(task_id="t", outputs=outputs, metrics=metrics)
        outputs.clear()
        metrics.clear()
        assert list(result.outputs) == ["incidence"] and dict(result.metrics) == {"seconds": 1.5, "rows": 3}
        with pytest.raises(TypeError):
            result.outputs["other"] = TableArtifact.from_bytes(b"y")  # type: ignore[index]
        assert result.error is None and result.cached is False

    def test_outputs_may_be_empty_only_when_error_is_set(self):
        with pytest.raises(ContractViolationError, match="outputs may be empty only when error is set"):
            SimReturn(task_id="t", outputs={})
        failed = SimReturn(task_id="t", outputs={}, error=ErrorInfo("RuntimeError", "diverged"))
        assert failed.error.error_type == "RuntimeError"

    def test_rejects_bad_fields(self):
        ok = {"o": TableArtifact.from_bytes(b"x")}
        with pytest.raises(ContractViolationError, match="task_id must be a non-empty string"):
            SimReturn(task_id="", outputs=ok)
        with pytest.raises(ContractViolationError, match="output 'o' must be a TableArtifact"):
            SimReturn(task_id="t", outputs={"o": b"x"})
        with pytest.raises(ContractViolationError, match="output name must be a non-empty string"):
            SimReturn(task_id="t", outputs={"": ok["o"]})
        with pytest.raises(ContractViolationError, match="outputs must be a mapping"):
            SimReturn(task_id="t", outputs=[ok["o"]])
        with pytest.raises(ContractViolationError, match="error must be an ErrorInfo"):
            SimReturn(task_id="t", outputs={}, error="boom")
        with pytest.raises(ContractViolationError, match="metric 'seconds' must be a number"):
            SimReturn(task_id="t", outputs=ok, metrics={"seconds": "1"})
        with pytest.raises(ContractViolationError, match="cached must be a bool"):
            SimReturn(task_id="t", outputs=ok, cached=1)

    def test_succeeded_equals_the_checked_constructor_and_pickles_alike(self):
        outputs = {"incidence": TableArtifact.from_bytes(b"x"), "prevalence": TableArtifact.from_bytes(b"y")}
        trusted = SimReturn.succeeded("t", dict(outputs), 0.25)
        checked = SimReturn(task_id="t", outputs=outputs, metrics={"seconds": 0.25})
        assert trusted == checked and pickle.loads(pickle.dumps(trusted)) == checked
        assert type(trusted.outputs) is type(checked.outputs) and type(trusted.metrics) is type(checked.metrics)
        with pytest.raises(TypeError):
            trusted.outputs["other"] = outputs["incidence"]  # type: ignore[index]

    def test_succeeded_still_rejects_names_a_model_chose_badly(self):
        artifact = TableArtifact.from_bytes(b"x")
        with pytest.raises(ContractViolationError, match="output name must be a non-empty string"):
            SimReturn.succeeded("t", {"": artifact}, 0.1)
        with pytest.raises(ContractViolationError, match="outputs keys must be strings"):
            SimReturn.succeeded("t", {1: artifact}, 0.1)  # type: ignore[dict-item]
        with pytest.raises(ContractViolationError, match="outputs may be empty only when error is set"):
            SimReturn.succeeded("t", {}, 0.1)
