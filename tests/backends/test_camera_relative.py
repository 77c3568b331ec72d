"""``--fov auto`` with a relative (affine-invariant) depth model: the first view's depth shift is recovered and
removed, and the sidecar says so; a metric model keeps its depth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.backends import registry
from core.camera_recovery import CameraNetConfig, PointCloudCameraNet
from core.pipeline import GenerationSettings, _relative_depth, generate_scene


@pytest.fixture(scope="module")
def tiny_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("camnet")
    PointCloudCameraNet(CameraNetConfig(num_points=128, centroids=(16, 4), neighbours=8, widths=((16,), (16,)),
                                        global_width=16)).save_pretrained(path)
    return path


def test_relative_and_metric_models_are_told_apart(tiny_dpt_dir: Path, tiny_depth_anything_dir: Path) -> None:
    assert _relative_depth(registry.build("depth_completer", f"transformers:{tiny_dpt_dir}"))
    assert _relative_depth(registry.build("depth_completer", f"transformers:{tiny_depth_anything_dir}"))
    assert not _relative_depth(registry.build("depth_completer", "laplacian"))


def test_fov_auto_recovers_the_shift_of_a_relative_model(tiny_dpt_dir: Path, tiny_camera: Path) -> None:
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
    spec = f"transformers:{tiny_dpt_dir}"
    plain = generate_scene(photo, mode="single", depth_model=spec, settings=GenerationSettings(max_side=None))
    auto = generate_scene(photo, mode="single", depth_model=spec, fov_deg="auto",
                          settings=GenerationSettings(max_side=None, camera_model=str(tiny_camera)))
    cam = auto.meta["camera"]
    assert cam["method"] == "module" and cam["shift_applied"] is True  # "auto" picks the module for predicted depth
    d_plain, d_auto = plain.depths[0], auto.depths[0]
    valid = (d_plain > 0) & (d_auto > 0)
    # Same median (relative depth has no scale), different shape: depth - shift, rescaled.
    assert np.median(d_auto[valid]) == pytest.approx(np.median(d_plain[valid]), rel=1e-3)
    expected = np.maximum(d_plain - cam["shift"], 0)
    expected *= np.median(d_plain[valid]) / np.median(expected[valid])
    assert cam["shift"] != 0
    # Edge snapping after the correction moves a few pixels at depth edges; the rest is exactly depth - shift.
    rel = np.abs(d_auto[valid] - expected[valid]) / expected[valid]
    assert np.median(rel) < 1e-4 and np.mean(rel < 1e-3) > 0.9
