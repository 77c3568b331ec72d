"""``gld8tr benchmark`` end to end through the real entry point: tables on disk and stdout, resume, errors."""

import csv
import subprocess
import sys

import pytest
from PIL import Image

SUMMARY_HEADER = "dataset,method,pairs,mae_hole,rmse_hole,absrel_hole,delta1_hole,mae_seam,mae_all,sec_per_pair"


def _bench(*args, timeout: float = 600):
    cmd = [sys.executable, "-m", "gld8tr", "benchmark", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow  # two full CLI processes (torch import, rendering, Laplacian solves): ~20-60 s
def test_middlebury_run_writes_the_tables_and_resumes(tmp_path):
    out = tmp_path / "mb"
    args = ("--dataset", "middlebury", "--methods", "nearest,laplacian", "--limit", "2", "--max-side", "128",
            "--out", str(out), "--no-progress")  # fmt: skip
    res = _bench(*args)
    assert res.returncode == 0, res.stderr
    assert "| middlebury | nearest | 2 |" in res.stdout and "| middlebury | laplacian | 2 |" in res.stdout
    assert (out / "summary.csv").read_text().splitlines()[0] == SUMMARY_HEADER
    assert (out / "summary.md").read_text() == res.stdout
    with Image.open(out / "error_vs_overlap.png") as im:
        assert im.size[0] > 300
    rows = list(csv.DictReader((out / "pairs.csv").open()))
    assert len(rows) == 4 and {r["method"] for r in rows} == {"nearest", "laplacian"}
    assert all(0.4 <= float(r["overlap"]) <= 0.95 and float(r["mae_hole"]) > 0 for r in rows)

    again = _bench(*args)  # nothing left to do: the pairs are reused, no row is added
    assert again.returncode == 0, again.stderr
    assert "reusing 2 pairs" in again.stderr and "already scored" in again.stderr
    assert len(list(csv.DictReader((out / "pairs.csv").open()))) == 4
    assert again.stdout == res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "scannet"], "--root"),
        (["--dataset", "synthetic", "--offsets", "3,x"], "--offsets"),
        (["--dataset", "synthetic", "--methods", "nearest,nearest"], "twice"),
        (["--dataset", "synthetic", "--seam-px", "0"], "--seam-px"),
        (["--dataset", "synthetic", "--overlap", "0.9", "0.4"], "overlap band"),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, capsys, args, message):
    from gld8tr.cli import main

    assert main(["benchmark", *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.slow  # renders 50 synthetic pairs and runs seven methods: ~3-15 min
def test_shipped_network_beats_every_baseline_on_synthetic_hole_mae(tmp_path):
    """The benchmark issue's acceptance, recomputed from scratch with the shipped weights: hole MAE and AbsRel below
    every baseline's, the image-guided fills of issue 15 included (the v3 weights lost to colourisation on MAE)."""
    from core.backends.registry import COMPLETION_BASELINES

    # 50 pairs x 7 methods: about 4 min on an idle 2-core CPU, over 10 min on a loaded one.
    res = _bench("--dataset", "synthetic", "--limit", "50", "--out", str(tmp_path / "syn"), "--no-progress",
                 timeout=2400)
    assert res.returncode == 0, res.stderr
    rows = {r["method"]: r for r in csv.DictReader((tmp_path / "syn" / "summary.csv").open())}
    assert set(rows) == {"gld8tr", *COMPLETION_BASELINES}
    assert all(int(r["pairs"]) == 50 for r in rows.values())
    for baseline in COMPLETION_BASELINES:
        assert float(rows["gld8tr"]["absrel_hole"]) < float(rows[baseline]["absrel_hole"]), (baseline, rows)
        assert float(rows["gld8tr"]["mae_hole"]) < float(rows[baseline]["mae_hole"]), (baseline, rows)
