import math

import numpy as np
import polars as pl
import pytest

from modelops.losses import SMALL_ROWS, _mean_by_key, mae, mse, poisson, rmse
from modelops.scoring import ScoringError, align, score


def aligned(simulated: list[list[float]], observed: list[float]) -> pl.DataFrame:
    reps = [pl.DataFrame({"t": list(range(len(observed))), "v": s}) for s in simulated]
    return align(reps, pl.DataFrame({"t": list(range(len(observed))), "v": observed}), ["t"], "v", "out")


def test_align_gives_one_row_per_key_and_replicate():
    frame = aligned([[1, 2], [3, 4]], [10, 20])
    assert frame.columns == ["t", "replicate", "simulated", "observed"]
    assert frame.sort("replicate", "t").rows() == [(0, 0, 1.0, 10), (1, 0, 2.0, 20), (0, 1, 3.0, 10), (1, 1, 4.0, 20)]


def test_builtin_losses_compare_the_replicate_mean_with_the_data():
    frame = aligned([[1.0, 2.0], [3.0, 6.0]], [1.0, 1.0])  # means 2 and 4
    assert mse(frame) == pytest.approx((1 + 9) / 2)
    assert rmse(frame) == pytest.approx(math.sqrt(5))
    assert mae(frame) == pytest.approx((1 + 3) / 2)
    expected = sum(r - o * math.log(r) + math.lgamma(o + 1) for r, o in [(2, 1), (4, 1)]) / 2
    assert poisson(frame) == pytest.approx(expected)


def test_poisson_is_smallest_at_the_observed_rate():
    observed = [5.0, 9.0]
    at_truth = poisson(aligned([observed], observed))
    assert all(poisson(aligned([[o * k for o in observed]], observed)) > at_truth for k in (0.5, 0.9, 1.1, 2))


def test_missing_simulated_rows_or_columns_are_scoring_errors():
    target = pl.DataFrame({"t": [0, 1, 2], "v": [1.0, 1.0, 1.0]})
    with pytest.raises(ScoringError, match="has no 'v' for 1 of 3 target rows"):
        align([pl.DataFrame({"t": [0, 1], "v": [1.0, 1.0]})], target, ["t"], "v", "out")
    with pytest.raises(ScoringError, match=r"output 'out' lacks column\(s\) \['v'\]"):
        align([pl.DataFrame({"t": [0, 1, 2]})], target, ["t"], "v", "out")


def test_key_types_are_matched_to_the_data():
    target = pl.DataFrame({"t": [0, 1], "v": [1.0, 2.0]})
    frame = align([pl.DataFrame({"t": [0.0, 1.0], "v": [1, 2]})], target, ["t"], "v", "out")
    assert mse(frame) == 0.0


def spec(loss="mse", weight=1.0, output=None):
    return {"keys": ["t"], "value": "v", "loss": loss, "weight": weight, "output": output}


def test_total_loss_is_the_weighted_sum_of_target_losses():
    observed = {"a": pl.DataFrame({"t": [0], "v": [0.0]}), "b": pl.DataFrame({"t": [0], "v": [0.0]})}
    outputs = [{"a": pl.DataFrame({"t": [0], "v": [1.0]}), "b": pl.DataFrame({"t": [0], "v": [2.0]})}]
    total, per_target = score({"a": spec(weight=3.0), "b": spec(weight=0.5)}, observed, outputs)
    assert per_target == {"a": 1.0, "b": 4.0}
    assert total == 3.0 * 1.0 + 0.5 * 4.0


def test_a_target_reads_its_named_output_and_a_custom_loss():
    observed = {"cases": pl.DataFrame({"t": [0, 1], "v": [1.0, 3.0]})}
    outputs = [{"incidence": pl.DataFrame({"t": [0, 1], "v": [2.0, 2.0]})}]
    total, _ = score({"cases": spec(loss="tests.test_scoring:max_error", output="incidence")}, observed, outputs)
    assert total == 1.0


def max_error(frame: pl.DataFrame) -> float:
    return float((frame["simulated"] - frame["observed"]).abs().max())


def nan_loss(frame: pl.DataFrame) -> float:
    return float("nan")


def test_a_missing_output_or_non_finite_loss_is_a_scoring_error():
    observed = {"a": pl.DataFrame({"t": [0], "v": [0.0]})}
    with pytest.raises(ScoringError, match="returned no output 'a'.*returned \\['b'\\]"):
        score({"a": spec()}, observed, [{"b": pl.DataFrame({"t": [0], "v": [0.0]})}])
    with pytest.raises(ScoringError, match="is nan"):
        score({"a": spec(loss="tests.test_scoring:nan_loss")}, observed, [{"a": pl.DataFrame({"t": [0], "v": [0.0]})}])


def per_replicate_align(replicates, observed, keys, value, size=None):
    """The reference: each replicate joined to the data on its own, then stacked."""
    extra = [] if size is None else [pl.col(size).alias("size")]
    target = observed.select([*keys, pl.col(value).alias("observed"), *extra])
    parts = []
    for index, frame in enumerate(replicates):
        simulated = frame.select(
            *[pl.col(c).cast(target.schema[c]) for c in keys], pl.col(value).cast(pl.Float64).alias("simulated")
        )
        joined = target.join(simulated, on=keys, how="left", maintain_order="left")
        parts.append(joined.with_columns(pl.lit(index, dtype=pl.Int64).alias("replicate")))
    return pl.concat(parts).select([*keys, "replicate", "simulated", "observed", *(["size"] if size else [])])


def random_replicates(rng, observed, count, layout):
    """Simulated tables: the data's keys row for row, or shuffled among keys the data lacks (of another type)."""
    replicates = []
    for _ in range(count):
        keys = observed.select("t", "g")
        if layout != "rows":
            unknown = pl.DataFrame({"t": rng.integers(1000, 2000, 5), "g": [0] * 5}, schema_overrides={"g": pl.Int32})
            keys = pl.concat([keys, unknown]).sample(fraction=1.0, shuffle=True, seed=int(rng.integers(1 << 30)))
        if layout == "other types":
            keys = keys.with_columns(pl.col("g").cast(pl.Int64))
        replicates.append(keys.with_columns(v=rng.random(keys.height) * 10, other=pl.lit("x")))
    return replicates


@pytest.mark.parametrize("layout", ["rows", "shuffled", "other types"])
@pytest.mark.parametrize("seed", range(4))
def test_fast_alignment_equals_the_per_replicate_join_and_so_do_the_losses(seed, layout):
    rng = np.random.default_rng(seed)
    rows, count = int(rng.integers(1, 40)), int(rng.integers(1, 9))
    observed = pl.DataFrame({
        "t": rng.permutation(1000)[:rows], "g": rng.integers(0, 3, rows, dtype=np.int32),
        "v": rng.poisson(5.0, rows), "n": rng.integers(10, 20, rows),
    })  # fmt: skip
    replicates = random_replicates(rng, observed, count, layout)
    keys = ["t"] if layout == "shuffled" else ["t", "g"]  # one key: found by binary search
    for size in (None, "n"):
        fast = align(replicates, observed, keys, "v", "out", size)
        reference = per_replicate_align(replicates, observed, keys, "v", size)
        assert fast.schema == reference.schema and fast.equals(reference)
    for loss in (mse, rmse, mae, poisson):
        assert loss(fast) == loss(reference)  # bit for bit


def grouped_mean(frame: pl.DataFrame) -> pl.DataFrame:
    """The reference replicate mean: polars' grouped mean, as the losses computed it before."""
    keys = [c for c in frame.columns if c not in ("replicate", "simulated", "observed")]
    return frame.group_by(keys, maintain_order=True).agg(pl.col("simulated").mean(), pl.col("observed").first())


@pytest.mark.parametrize("seed", range(4))
def test_the_replicate_mean_has_the_bits_of_polars_grouped_mean(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        count = int(rng.integers(1, 34))
        rows = int(rng.integers(1, (SMALL_ROWS - 1) // count + 1))
        scale = 10.0 ** rng.integers(-6, 9, (count, rows))
        simulated = rng.standard_normal((count, rows)) * scale
        observed = rng.poisson(5.0, rows)
        frame = pl.DataFrame({
            "t": np.tile(rng.permutation(5000)[:rows], count), "replicate": np.repeat(np.arange(count), rows),
            "simulated": simulated.ravel(), "observed": np.tile(observed, count),
        })  # fmt: skip
        ours, reference = _mean_by_key(frame), grouped_mean(frame)
        assert ours["simulated"].to_list() == reference["simulated"].to_list()
        assert ours["observed"].equals(reference["observed"])
        error = reference["simulated"] - reference["observed"]
        assert mse(frame) == float((error**2).mean())


def test_a_key_the_data_repeats_is_joined_to_every_simulated_row_of_it():
    observed = pl.DataFrame({"t": [0, 1, 1], "v": [1.0, 2.0, 3.0]})
    replicates = [pl.DataFrame({"t": [0, 1, 1], "v": [4.0, 5.0, 6.0]})] * 2
    frame = align(replicates, observed, ["t"], "v", "out")
    assert frame.height == 2 * 5 and frame.equals(per_replicate_align(replicates, observed, ["t"], "v"))


def test_target_data_prepared_once_is_never_mistaken_for_other_data():
    """Fresh frames (whose ids Python reuses) and other columns of one frame each score against their own values."""
    replicates = [{"out": pl.DataFrame({"t": [0, 1], "v": [1.0, 3.0], "w": [2.0, 2.0]})}] * 2
    for level in range(200):
        observed = {"out": pl.DataFrame({"t": [0, 1], "v": [float(level)] * 2, "w": [0.0, 0.0]})}
        assert score({"out": spec()}, observed, replicates)[0] == ((1 - level) ** 2 + (3 - level) ** 2) / 2
        assert score({"out": spec() | {"value": "w"}}, observed, replicates)[0] == 4.0
