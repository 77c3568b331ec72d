"""``gld8tr benchmark --task camera``: the point error, the shifted samples, and a run over the Middlebury frame
with the fixed default and a tiny module, written as CSV and markdown."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.camera import SAMPLE_FIELDS, point_error, run_camera_benchmark, shifted
from core.camera_recovery import CameraNetConfig, PointCloudCameraNet
from gld8tr.cli import main as cli_main


def _depth() -> tuple[np.ndarray, np.ndarray]:
    H, W = 30, 40
    v, u = np.mgrid[0:H, 0:W]
    depth = (2.0 + 0.05 * u + 0.02 * v).astype(np.float32)  # a tilted plane
    K = np.array([[35.0, 0, (W - 1) / 2], [0, 35.0, (H - 1) / 2], [0, 0, 1]], np.float32)
    return depth, K


def test_point_error_is_zero_only_for_the_true_camera() -> None:
    depth, K = _depth()
    assert point_error(depth, 0.0, 35.0, depth, K) == pytest.approx(0.0, abs=1e-7)
    assert point_error(3 * depth, 0.0, 35.0, depth, K) == pytest.approx(0.0, abs=1e-7)  # scale is free
    assert point_error(depth, 0.0, 50.0, depth, K) > 0.01
    obs, t = shifted(depth, 0.5)
    assert point_error(obs, 0.0, 35.0, depth, K) > 0.01  # the shifted depth bends the plane ...
    assert point_error(obs, t, 35.0, depth, K) == pytest.approx(0.0, abs=1e-5)  # ... its true shift undoes it


@pytest.mark.slow
def test_camera_benchmark_on_middlebury(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ckpt = tmp_path / "camnet"
    PointCloudCameraNet(CameraNetConfig(num_points=128, centroids=(16, 4), neighbours=8, widths=((16,), (16,)),
                                        global_width=16)).save_pretrained(ckpt)
    summary = run_camera_benchmark("middlebury", tmp_path / "out", methods=["module", "fixed"], limit=None,
                                   model_path=str(ckpt), progress=False)
    fixed = {s["scenario"]: s for s in summary if s["method"] == "fixed"}
    # 53.13 degrees against the calibrated 40.9 (994.978 px across 741 px).
    true_fov = math.degrees(2 * math.atan(741 / 2 / 994.978))
    assert fixed["metric"]["fov_err_med_deg"] == pytest.approx(53.13 - true_fov, abs=0.01)
    assert fixed["metric"]["samples"] == 1 and fixed["relative"]["samples"] == 8
    with (tmp_path / "out" / "samples.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 18 and set(rows[0]) == set(SAMPLE_FIELDS)
    assert "| middlebury | relative | module |" in (tmp_path / "out" / "summary.md").read_text()


def test_camera_benchmark_cli_rejects_unknown_method(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli_main(["benchmark", "--task", "camera", "--dataset", "middlebury", "--methods", "oracle"])
    assert rc == 2 and "oracle" in capsys.readouterr().err
    rc = cli_main(["benchmark", "--task", "camera", "--dataset", "nyu"])
    assert rc == 2
