"""Per-pair CSV round trip, pair-averaged summary, Markdown table and PNG plot."""

import math

import numpy as np
import pytest
from PIL import Image

from benchmark.report import PairWriter, markdown_table, read_pair_rows, summarize, write_reports


def _row(method, pair, mae, seam, seconds, overlap=0.5):
    return {
        "dataset": "d",
        "manifest": "m1",
        "method": method,
        "pair_id": pair,
        "scene_id": "s",
        "frame_a": "a",
        "frame_b": "b",
        "overlap": overlap,
        "n_hole": 10,
        "n_seam": 2,
        "mae_hole": mae,
        "rmse_hole": mae,
        "absrel_hole": mae / 2,
        "delta1_hole": 0.5,
        "mae_seam": seam,
        "mae_all": mae / 4,
        "seconds": seconds,
    }


def test_csv_round_trip_and_pair_averaged_summary(tmp_path):
    path = tmp_path / "pairs.csv"
    with PairWriter(path) as w:
        w.write(_row("x", "p1", 1.0, 0.5, 0.1))
        w.write(_row("y", "p1", 3.0, float("nan"), 1.0))
    with PairWriter(path) as w:  # appending keeps a single header
        w.write(_row("x", "p2", 2.0, 1.5, 0.3, overlap=0.8))
    rows = read_pair_rows(path)
    assert len(rows) == 3 and path.read_text().count("dataset,") == 1
    assert rows[1]["mae_seam"] != rows[1]["mae_seam"]  # NaN survives as an empty cell
    summary = summarize(rows)
    assert [s["method"] for s in summary] == ["x", "y"]
    x = summary[0]
    assert x["pairs"] == 2 and x["mae_hole"] == pytest.approx(1.5) and x["mae_seam"] == pytest.approx(1.0)
    assert x["sec_per_pair"] == pytest.approx(0.2) and x["mae_all"] == pytest.approx(0.375)
    assert math.isnan(summary[1]["mae_seam"])
    md = markdown_table(summary)
    assert md.splitlines()[0].startswith("| dataset | method | pairs | mae_hole")
    assert "| d | y | 1 | 3 |" in md and "| - |" in md


def test_write_reports_makes_csv_markdown_and_a_decodable_png(tmp_path):
    rows = [_row("x", f"p{i}", 0.1 * i, 0.05 * i, 0.01, overlap=0.4 + 0.05 * i) for i in range(5)]
    write_reports(rows, tmp_path)
    header = (tmp_path / "summary.csv").read_text().splitlines()[0]
    assert header == "dataset,method,pairs,mae_hole,rmse_hole,absrel_hole,delta1_hole,mae_seam,mae_all,sec_per_pair"
    assert (tmp_path / "summary.md").read_text().count("\n") == 3
    with Image.open(tmp_path / "error_vs_overlap.png") as im:
        arr = np.asarray(im.convert("RGB"))
    assert arr.shape[0] > 200 and arr.std() > 0
