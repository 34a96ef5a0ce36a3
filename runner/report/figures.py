"""The report's figures, one function each, drawn with matplotlib (no display needed).

Each takes plain frames and returns a Figure; `html.py` embeds them and writes
them as PNG files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..algorithms.abc_smc import weighted_quantiles  # noqa: E402

CMAP = "viridis"  # low losses dark, so the eye finds them


def _numeric(values: pl.Series) -> tuple[np.ndarray, list[str] | None]:
    """Values to plot, and tick labels when the parameter is categorical."""
    if values.dtype.is_numeric():
        return values.cast(pl.Float64).to_numpy(), None
    labels = sorted({str(v) for v in values})
    return np.array([labels.index(str(v)) for v in values], dtype=float), labels


def _loss_norm(loss: np.ndarray) -> Normalize:
    """Colour from the best loss to the 90th percentile, so the good region is not one colour."""
    return Normalize(vmin=float(np.min(loss)), vmax=float(np.quantile(loss, 0.9)) if loss.size > 1 else None)


def _completed(trials: pl.DataFrame) -> pl.DataFrame:
    """The search's completed trials (re-scorings of the best candidates, phase "confirm", are not proposals)."""
    if "phase" in trials.columns:
        trials = trials.filter(pl.col("phase") == "search")
    return trials.filter((pl.col("status") == "completed") & pl.col("loss").is_not_null()).sort("number")


def loss_over_trials(trials: pl.DataFrame) -> Figure:
    done = _completed(trials)
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    number, loss = done["number"].to_numpy(), done["loss"].to_numpy()
    ax.scatter(number, loss, s=10, alpha=0.5, color="tab:blue", label="trial")
    ax.step(number, np.minimum.accumulate(loss), where="post", color="tab:red", label="best so far")
    if loss.size and loss.min() > 0 and loss.max() / loss.min() > 100:
        ax.set_yscale("log")
    ax.set(xlabel="trial", ylabel="loss", title="Loss over trials")
    ax.legend(loc="upper right")
    return fig


def parameter_traces(trials: pl.DataFrame, parameters: Sequence[str]) -> Figure:
    done = _completed(trials)
    loss = done["loss"].to_numpy()
    fig, axes = plt.subplots(len(parameters), 1, figsize=(7, 1.9 * len(parameters) + 0.6), squeeze=False,
                             sharex=True, layout="constrained")  # fmt: skip
    for ax, name in zip(axes[:, 0], parameters):
        values, labels = _numeric(done[f"params_{name}"])
        points = ax.scatter(done["number"].to_numpy(), values, c=loss, cmap=CMAP, norm=_loss_norm(loss), s=10)
        ax.set_ylabel(name)
        if labels:
            ax.set_yticks(range(len(labels)), labels)
    axes[-1, 0].set_xlabel("trial")
    axes[0, 0].set_title("Parameter traces (colour: loss)")
    fig.colorbar(points, ax=axes[:, 0], label="loss", shrink=0.8)
    return fig


def pairwise(trials: pl.DataFrame, parameters: Sequence[str]) -> Figure:
    done = _completed(trials).sort("loss", descending=True)  # the best drawn last, on top
    loss = done["loss"].to_numpy()
    n = len(parameters)
    fig, axes = plt.subplots(n, n, figsize=(2.4 * n + 1, 2.4 * n), squeeze=False, layout="constrained")
    columns = {name: _numeric(done[f"params_{name}"]) for name in parameters}
    for i, row in enumerate(parameters):
        for j, col in enumerate(parameters):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                ax.hist(columns[col][0], bins=20, color="tab:gray")
            else:
                points = ax.scatter(columns[col][0], columns[row][0], c=loss, cmap=CMAP, norm=_loss_norm(loss), s=8)
            if i == n - 1:
                ax.set_xlabel(col)
            if j == 0 and i > 0:
                ax.set_ylabel(row)
    if n > 1:
        fig.colorbar(points, ax=axes, label="loss", shrink=0.6)
    fig.suptitle("Trials, pairwise (colour: loss)")
    return fig


def profiles(trials: pl.DataFrame, parameters: Sequence[str], bins: int = 20) -> Figure:
    """Loss against each parameter, with the lowest loss per bin: where the data pins it down."""
    done = _completed(trials)
    loss = done["loss"].to_numpy()
    fig, axes = plt.subplots(1, len(parameters), figsize=(3.4 * len(parameters) + 0.5, 3.2), squeeze=False,
                             sharey=True, layout="constrained")  # fmt: skip
    for ax, name in zip(axes[0], parameters):
        values, labels = _numeric(done[f"params_{name}"])
        ax.scatter(values, loss, s=8, alpha=0.4, color="tab:blue")
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1))) if values.size else np.array([])
        if edges.size > 1:
            which = np.clip(np.digitize(values, edges[1:-1]), 0, edges.size - 2)
            lowest = [(values[which == b].mean(), loss[which == b].min()) for b in range(edges.size - 1) if (which == b).any()]
            ax.plot(*zip(*lowest), color="tab:red", label="lowest in bin")
        ax.set_xlabel(name)
        if labels:
            ax.set_xticks(range(len(labels)), labels)
    axes[0, 0].set_ylabel("loss")
    axes[0, 0].legend(loc="upper right")
    fig.suptitle("One-dimensional profiles")
    return fig


def target_fit(name: str, fit: pl.DataFrame, keys: Sequence[str], draws: pl.DataFrame | None = None) -> Figure:
    """Observed points, the best fit's replicates as a median and a band, posterior draws as thin lines."""
    x_key = keys[0] if len(keys) == 1 and fit.schema[keys[0]].is_numeric() else None
    per_key = fit.group_by(list(keys), maintain_order=True).agg(
        pl.col("observed").first(),
        pl.col("simulated").median().alias("median"),
        pl.col("simulated").quantile(0.05).alias("low"),
        pl.col("simulated").quantile(0.95).alias("high"),
        pl.col("simulated").min().alias("min"),
        pl.col("simulated").max().alias("max"),
    )
    per_key = per_key.sort(x_key) if x_key else per_key
    x = per_key[x_key].to_numpy() if x_key else np.arange(per_key.height)
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    if draws is not None:
        for _, draw in draws.group_by("draw"):
            draw = draw.sort(x_key) if x_key else draw
            ax.plot(draw[x_key].to_numpy() if x_key else np.arange(draw.height), draw["simulated"].to_numpy(),
                    color="tab:purple", alpha=0.25, linewidth=0.8)  # fmt: skip
        ax.plot([], [], color="tab:purple", alpha=0.5, label="posterior draws")
    n = fit["replicate"].n_unique()
    ax.fill_between(x, per_key["min"].to_numpy(), per_key["max"].to_numpy(), color="tab:orange", alpha=0.15,
                    label=f"best fit, range of {n} replicates")  # fmt: skip
    ax.fill_between(x, per_key["low"].to_numpy(), per_key["high"].to_numpy(), color="tab:orange", alpha=0.3,
                    label="best fit, 5-95%")  # fmt: skip
    ax.plot(x, per_key["median"].to_numpy(), color="tab:orange", label="best fit, median")
    ax.scatter(x, per_key["observed"].to_numpy(), color="black", s=12, zorder=3, label="observed")
    ax.set(xlabel=x_key or " / ".join(keys), ylabel=name, title=f"Target {name}: best fit against the data")
    ax.legend(loc="best", fontsize="small")
    return fig


def posterior_marginals(
    posterior: pl.DataFrame, parameters: Sequence[str], columns: Mapping[str, str], level: float = 0.9
) -> tuple[Figure, dict[str, dict[str, Any]]]:
    """Weighted histograms with the central credible interval (90%, as summary.json's q05/q95); returns the intervals."""
    weights = posterior["weight"].cast(pl.Float64).to_numpy() if "weight" in posterior.columns else np.ones(posterior.height)
    fig, axes = plt.subplots(1, len(parameters), figsize=(3.4 * len(parameters) + 0.5, 3.0), squeeze=False,
                             layout="constrained")  # fmt: skip
    intervals = {}
    for ax, name in zip(axes[0], parameters):
        values = posterior[columns[name]].cast(pl.Float64).to_numpy()
        low, mid, high = weighted_quantiles(values, weights, [(1 - level) / 2, 0.5, (1 + level) / 2])
        intervals[name] = {"median": mid, "low": low, "high": high, "level": level}
        ax.hist(values, bins=30, weights=weights, color="tab:purple", alpha=0.6, density=True)
        ax.axvspan(low, high, color="tab:purple", alpha=0.12)
        ax.axvline(mid, color="black", linewidth=1)
        ax.set(xlabel=name, title=f"{name}: {mid:.4g} [{low:.4g}, {high:.4g}]")
        ax.title.set_fontsize("small")
    fig.suptitle(f"Posterior marginals ({level:.0%} credible intervals)")
    return fig, intervals
