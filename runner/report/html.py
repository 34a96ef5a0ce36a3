"""The report page: figures embedded as base64 PNG, so one HTML file opens offline anywhere."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from matplotlib.figure import Figure

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; } td, th { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f4f4f4; } img { max-width: 100%; display: block; margin: 0.5rem 0; }
.note { color: #666; font-style: italic; } code { background: #f4f4f4; padding: 0 0.2rem; }
"""


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def image(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    head = "" if header is None else "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_text(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def failures_table(trials: pl.DataFrame) -> str:
    """Failed trials grouped by error type: how many, and the first message of each."""
    failed = trials.filter(pl.col("status") == "failed")
    if failed.is_empty():
        return '<p class="note">No trial failed.</p>'
    groups = (
        failed.with_columns(pl.col("error_type").fill_null("unknown"))
        .group_by("error_type")
        .agg(pl.len().alias("trials"), pl.col("error_message").first().alias("first message"), pl.col("number").min())
        .sort("trials", descending=True)
    )
    return table(groups.select("error_type", "trials", "number", "first message").rows(),
                 ["error type", "trials", "first trial", "first message"])  # fmt: skip


def metadata_rows(summary: Mapping[str, Any]) -> list[tuple[str, Any]]:
    algorithm = summary.get("algorithm") or {}
    bundle = summary.get("bundle") or (summary.get("provenance") or {}).get("bundle") or "installed"
    if isinstance(bundle, Mapping):
        bundle = bundle.get("digest") or bundle.get("ref") or dict(bundle)
    return [
        ("run", summary.get("run_id")),
        ("status", summary.get("status")),
        ("stopped by", summary.get("stopped")),
        ("error", summary.get("error")),
        ("document sha256", summary.get("spec_sha256")),
        ("bundle", bundle),
        ("algorithm", " ".join(str(algorithm.get(k)) for k in ("name", "sampler") if algorithm.get(k))),
        ("algorithm seed", algorithm.get("seed")),
        ("mode", summary.get("mode")),
        ("trials", f"{summary.get('n_trials')} of {summary.get('budget')} "
                   f"({summary.get('n_completed')} completed, {summary.get('n_failed')} failed)"),  # fmt: skip
        ("replicates", summary.get("replicates")),
        ("best loss", summary.get("best_loss")),
        ("started", summary.get("started_at")),
        ("elapsed (s)", summary.get("elapsed_seconds")),
    ]


def page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<h2>{html.escape(heading)}</h2>\n{content}\n" for heading, content in sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<link rel="icon" href="data:,"><style>{STYLE}</style></head>\n<body><h1>{html.escape(title)}</h1>\n{body}</body></html>\n'
    )
