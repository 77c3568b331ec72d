"""The shipped camera module (core/weights/gld8tr-camera) loads strictly, carries its model card, and finds the
lens of a box room it has never seen to within 2 degrees (the module alone) and 3 (refined)."""

from __future__ import annotations

import json

import pytest

from benchmark.box_room import BoxRoom
from core.camera import Camera, Intrinsics, pose_from_yaw_pitch
from core.camera_recovery import estimate_camera
from core.camera_recovery.recover import DEFAULT_CHECKPOINT, load_module


def test_shipped_module_loads_with_card_and_metrics() -> None:
    model = load_module()
    assert model.config.normals and model.config.in_channels == 5 and model.config.pair_bins > 0
    assert (DEFAULT_CHECKPOINT / "MODEL_CARD.md").is_file()
    metrics = json.loads((DEFAULT_CHECKPOINT / "metrics.json").read_text())
    assert metrics["fov_median_deg"] < 5 and metrics["fov_metric_median_deg"] < 1


@pytest.mark.parametrize("fov", [45.0, 80.0])
def test_shipped_module_finds_the_lens_of_a_box_room(fov: float) -> None:
    cam = Camera(Intrinsics.from_fov(128, 96, fov), pose_from_yaw_pitch(20.0, -10.0))
    depth, _ = BoxRoom().ray_depth(cam)
    refined = estimate_camera(depth, method="module+refine")
    module = estimate_camera(depth, method="module")
    assert abs(refined.fov_x_deg - fov) < 3.0
    assert abs(module.fov_x_deg - fov) < 2.0
