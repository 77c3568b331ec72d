"""Benchmark results on disk: the per-pair CSV (append-only, the resume log), the summary table as CSV and
Markdown, and the error-vs-overlap plot.

Summary numbers are means over pairs of the per-pair metrics (each pair weighs the same, whatever its hole
size, as in Invisible Stitch's evaluation); a pair without seam pixels is left out of ``mae_seam`` only.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

PAIR_FIELDS = (
    "dataset", "manifest", "method", "method_version", "pair_id", "scene_id", "frame_a", "frame_b",
    "overlap", "n_hole", "n_seam",
    "mae_hole", "rmse_hole", "absrel_hole", "delta1_hole",
    "mae_seam", "rmse_seam", "absrel_seam", "delta1_seam",
    "mae_all", "rmse_all", "absrel_all", "delta1_all",
    "seconds",
)  # fmt: skip
"""Columns of the per-pair CSV."""

SUMMARY_FIELDS = (
    "dataset", "method", "pairs", "mae_hole", "rmse_hole", "absrel_hole", "delta1_hole", "mae_seam", "mae_all",
    "sec_per_pair",
)  # fmt: skip
"""Columns of ``summary.csv`` / ``summary.md``: the issue's columns plus the mean inference time per pair."""

_TEXT_FIELDS = {"dataset", "manifest", "method", "method_version", "pair_id", "scene_id", "frame_a", "frame_b"}


def read_pair_rows(path: Path) -> list[dict[str, object]]:
    """Rows of a per-pair CSV with numbers parsed (empty cells -> NaN); [] when the file does not exist."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        rows = []
        for raw in csv.DictReader(f):
            rows.append({k: (v if k in _TEXT_FIELDS else _number(v)) for k, v in raw.items()})
    return rows


def _number(text: str | None) -> float:
    return float(text) if text not in (None, "", "nan") else math.nan


class PairWriter:
    """Appends per-pair rows to the CSV, writing the header once; every row is flushed (a crash loses nothing)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists() or path.stat().st_size == 0
        self._file = path.open("a", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=PAIR_FIELDS, extrasaction="ignore")
        if new:
            self._writer.writeheader()
            self._file.flush()

    def write(self, row: dict[str, object]) -> None:
        self._writer.writerow({k: _fmt(row.get(k)) for k in PAIR_FIELDS})
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PairWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fmt(value: object) -> object:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def _nanmean(values: Iterable[float]) -> float:
    vals = [float(v) for v in values if not math.isnan(float(v))]
    return sum(vals) / len(vals) if vals else math.nan


def summarize(rows: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    """One row per (dataset, method), in order of first appearance, with pair-averaged metrics."""
    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for row in rows:
        groups.setdefault((str(row["dataset"]), str(row["method"])), []).append(row)
    summary = []
    for (dataset, method), group in groups.items():
        out: dict[str, object] = {"dataset": dataset, "method": method, "pairs": len(group)}
        for key in SUMMARY_FIELDS[3:-1]:
            out[key] = _nanmean(r[key] for r in group)  # type: ignore[misc]
        out["sec_per_pair"] = _nanmean(r["seconds"] for r in group)  # type: ignore[misc]
        summary.append(out)
    return summary


def write_summary_csv(summary: Sequence[dict[str, object]], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        for row in summary:
            writer.writerow({k: _fmt(row[k]) for k in SUMMARY_FIELDS})


def markdown_table(summary: Sequence[dict[str, object]]) -> str:
    """The summary as a GitHub Markdown table (4 significant digits; NaN shown as ``-``)."""
    lines = ["| " + " | ".join(SUMMARY_FIELDS) + " |", "|" + "|".join("---" for _ in SUMMARY_FIELDS) + "|"]
    for row in summary:
        cells = []
        for k in SUMMARY_FIELDS:
            v = row[k]
            if isinstance(v, float):
                cells.append("-" if math.isnan(v) else f"{v:.4g}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


PLOT_METRICS = ("mae_hole", "absrel_hole")
"""Panels of the plot: the metric error in metres (log axis: outdoor scenes err in tens of metres, rooms in
centimetres) and the scale-free relative error, which compares scenes of different size fairly."""


def plot_error_vs_overlap(rows: Sequence[dict[str, object]], path: Path, metrics: Sequence[str] = PLOT_METRICS) -> None:
    """Scatter of each metric against overlap, one colour per method; one row of panels per dataset (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(str(r["dataset"]) for r in rows)) or ["(no rows)"]
    fig, axes = plt.subplots(
        len(datasets), len(metrics), figsize=(6 * len(metrics), 4.5 * len(datasets)), squeeze=False
    )
    for row_axes, dataset in zip(axes, datasets, strict=True):
        subset = [r for r in rows if r["dataset"] == dataset]
        for ax, metric in zip(row_axes, metrics, strict=True):
            values = []
            for method in dict.fromkeys(str(r["method"]) for r in subset):
                pts = [(float(r["overlap"]), float(r[metric])) for r in subset if r["method"] == method]  # type: ignore[arg-type]
                pts = [p for p in pts if not math.isnan(p[1])]
                values += [p[1] for p in pts]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", ms=4, alpha=0.75, label=method)
            if values and min(values) > 0 and max(values) / min(values) > 100:
                ax.set_yscale("log")
            ax.set_title(f"{dataset}: {metric} vs overlap")
            ax.set_xlabel("overlap (fraction of B's valid pixels known from A)")
            ax.set_ylabel(f"{metric} (m)" if metric.startswith(("mae", "rmse")) else metric)
            ax.grid(alpha=0.3)
            if values:
                ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_reports(rows: Sequence[dict[str, object]], out_dir: Path) -> list[dict[str, object]]:
    """``summary.csv``, ``summary.md`` and ``error_vs_overlap.png`` in ``out_dir``; returns the summary rows."""
    summary = summarize(rows)
    write_summary_csv(summary, out_dir / "summary.csv")
    (out_dir / "summary.md").write_text(markdown_table(summary))
    if rows:
        plot_error_vs_overlap(rows, out_dir / "error_vs_overlap.png")
    return summary
