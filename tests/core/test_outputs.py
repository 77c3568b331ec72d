"""``core.outputs.write_outputs``: the one writer of a scene's files, shared by ``gld8tr run`` and the worker."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from plyfile import PlyData

from benchmark.box_room import BoxRoom, RoomOracle, room_cameras
from core.backends.patchmatch_inpainter import PatchMatchInpainter
from core.errors import Cancelled
from core.outputs import PREVIEW_MAX_WIDTH, write_outputs
from core.pipeline import generate_scene
from core.trajectory import poses_for_mode


@pytest.fixture(scope="module")
def scene():
    room = BoxRoom()
    cams = room_cameras(poses_for_mode("stage"), 96, 64)
    image, depth = room.photo(cams[0])
    return generate_scene(image, mode="stage", depth=depth, inpainter=PatchMatchInpainter(),
                          depth_model=RoomOracle(room, cams), device="cpu")


def test_writes_ply_sidecar_views_and_preview(scene, tmp_path: Path) -> None:
    out = write_outputs(scene, tmp_path / "s.ply", views_dir=tmp_path / "views", preview_path=tmp_path / "p.png")
    assert PlyData.read(tmp_path / "s.ply")["vertex"].count == scene.num_points
    assert json.loads((tmp_path / "s.json").read_text())["num_points"] == scene.num_points == out.sidecar["num_points"]
    assert len(list((tmp_path / "views").glob("view_*.png"))) == len(scene.views)
    preview = Image.open(tmp_path / "p.png")
    # The first four views side by side (5 views of 96 px: 384 px, under the cap).
    assert preview.size == (min(PREVIEW_MAX_WIDTH, 4 * 96), 64)
    assert out.gaussians is None and [p.name for p in out.files] == ["s.ply", "s.json", "p.png"]


def test_a_cancel_before_the_gaussian_fit_writes_no_gaussians(scene, tmp_path: Path) -> None:
    with pytest.raises(Cancelled):
        write_outputs(scene, tmp_path / "s.ply", gaussians_path=tmp_path / "g.ply", should_cancel=lambda: True)
    assert (tmp_path / "s.ply").exists() and not (tmp_path / "g.ply").exists()


def test_gaussians_are_fitted_and_timed(scene, tmp_path: Path) -> None:
    reports: list[tuple[str, int, int]] = []
    out = write_outputs(scene, tmp_path / "s.ply", gaussians_path=tmp_path / "g.ply", gs_iters=3, gs_max_side=24,
                        gs_method="fit", device="cpu", on_progress=lambda *r: reports.append(r))
    assert out.gaussians is not None and out.gaussians["iterations"] == 3
    assert (tmp_path / "g.ply").exists() and (tmp_path / "g.json").exists()
    assert scene.timings["gaussians"] > 0 and np.isfinite(out.gaussians["psnr_input_db"])
    assert reports and reports[-1][0] == "gaussians"


def test_gaussians_feed_forward_by_default_on_the_cpu(scene, tmp_path: Path) -> None:
    out = write_outputs(scene, tmp_path / "s.ply", gaussians_path=tmp_path / "g.splat", device="cpu")
    assert out.gaussians is not None and out.gaussians["method"] == "feedforward"
    assert out.gaussians["num_gaussians"] > 0 and (tmp_path / "g.splat").exists()
