"""The Gaussian stage with ``feedforward`` (and ``fit`` starting from it), and ``gld8tr run --gs-method``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import room_scene

from core.errors import InputError
from core.gaussians import load_gaussians
from core.gaussians.stage import gaussian_stage
from core.splatter import SplatterConfig, SplatterNet
from core.splatter.feedforward import feedforward_gaussians

PHOTO = Path(__file__).resolve().parents[2] / "examples" / "chelsea.jpg"


@pytest.fixture()
def checkpoint(tmp_path) -> Path:
    """An untrained (zero-head) splatter net: its splats are the views' own pixels on their own depth."""
    torch.manual_seed(0)
    return SplatterNet(SplatterConfig(base_channels=4, channel_mults=(1, 2), groups=2)).save_pretrained(tmp_path / "ck")


def test_feedforward_merges_views_by_their_new_pixels(checkpoint):
    scene = room_scene(40, 30)
    scene.masks[1][:, :10] = True  # view 1 brings 10 new columns, view 2 nothing
    result = feedforward_gaussians(scene, checkpoint=str(checkpoint), device="cpu")
    assert result.per_view == [40 * 30, 10 * 30, 0]
    assert len(result.gaussians) == 40 * 30 + 10 * 30
    # View 0's splats sit exactly on its unprojected depth (the geometric oracle, through the stage).
    from core.camera import unproject_depth

    expected = unproject_depth(torch.from_numpy(scene.depths[0]), scene.cameras[0].intrinsics.matrix()).reshape(-1, 3)
    torch.testing.assert_close(result.gaussians.means[: 40 * 30], expected, atol=1e-4, rtol=1e-4)


def test_feedforward_solve_sharpens_the_input_view():
    torch.manual_seed(0)
    model = SplatterNet(SplatterConfig(base_channels=4, channel_mults=(1, 2), groups=2, init_scale_px=0.3))
    scene = room_scene(48, 36)
    scene.masks[1][:, :12] = True
    plain = feedforward_gaussians(scene, model=model, device="cpu", solve_iters=0)
    solved = feedforward_gaussians(scene, model=model, device="cpu", solve_iters=4)
    assert plain.color_solve_iters == 0 and solved.summary()["color_solve_iters"] == 4
    torch.testing.assert_close(solved.gaussians.means, plain.gaussians.means)
    from core.gaussians.fit import _resize_targets, evaluate

    cams, targets = _resize_targets(scene.cameras, scene.views, None, torch.device("cpu"))
    p0, s0 = evaluate(plain.gaussians, cams[:1], targets[:1])[0], evaluate(solved.gaussians, cams[:1], targets[:1])[0]
    assert s0 > p0 + 3, (p0, s0)
    with pytest.raises(InputError, match=">= 0"):
        feedforward_gaussians(scene, model=model, device="cpu", solve_iters=-1)


def test_stage_writes_viewable_splats_and_metrics(tmp_path, checkpoint):
    scene = room_scene(48, 36)
    summary = gaussian_stage(scene, tmp_path / "ff.splat", method="feedforward", device="cpu",
                             checkpoint=str(checkpoint))
    assert summary["method"] == "feedforward" and summary["num_gaussians"] == 48 * 36
    assert summary["psnr_input_db"] > 20  # the input view's own pixels on its own depth (blurred by the footprint)
    assert json.loads((tmp_path / "ff.json").read_text())["num_gaussians"] == len(load_gaussians(tmp_path / "ff.splat"))
    fit = gaussian_stage(scene, tmp_path / "fit.ply", method="fit", init="feedforward", iters=3, device="cpu",
                         checkpoint=str(checkpoint))
    assert fit["method"] == "fit" and fit["init"] == "feedforward" and fit["iterations"] == 3


def test_mismatched_depth_is_a_clear_error(checkpoint):
    scene = room_scene(40, 30)
    scene.depths[1] = scene.depths[1][:, :20]
    with pytest.raises(InputError, match="depth of shape"):
        feedforward_gaussians(scene, checkpoint=str(checkpoint), device="cpu")


def test_run_cli_feedforward(tmp_path, capsys, checkpoint):
    from gld8tr.cli import main as cli_main

    depth = np.full((300, 451), 2.5, np.float32)
    np.save(tmp_path / "depth.npy", depth)
    rc = cli_main([
        "run", "--no-progress", "--image", str(PHOTO), "--depth", str(tmp_path / "depth.npy"), "--mode", "single",
        "--depth-model", "nearest", "--max-side", "64", "-o", str(tmp_path / "scene.ply"),
        "--gaussians", str(tmp_path / "g.ply"), "--gs-method", "feedforward", "--gs-checkpoint", str(checkpoint),
        "--device", "cpu",
    ])
    out = capsys.readouterr()
    assert rc == 0, out.err
    metrics = json.loads((tmp_path / "g.json").read_text())
    assert metrics["method"] == "feedforward" and metrics["num_gaussians"] == len(load_gaussians(tmp_path / "g.ply"))
    w, h = metrics["resolution"]
    assert w == 64 and metrics["num_gaussians"] == w * h  # single mode: one splat per pixel of the photo
