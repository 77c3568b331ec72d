"""``--fov auto`` end to end: generate_scene and ``gld8tr run`` estimate the field of view from the first view's
depth, record the estimate (or the fallback and its reason) in the sidecar, and reject bad values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.box_room import BoxRoom
from core.camera import Camera, Intrinsics, pose_from_yaw_pitch
from core.camera_recovery import CameraNetConfig, PointCloudCameraNet
from core.errors import InputError
from core.pipeline import GenerationSettings, generate_scene, parse_fov
from gld8tr.cli import main as cli_main

H, W, TRUE_FOV = 96, 128, 75.0


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A photo-sized image and the exact depth of a box room seen with a 75-degree lens."""
    d = tmp_path_factory.mktemp("room")
    cam = Camera(Intrinsics.from_fov(W, H, TRUE_FOV), pose_from_yaw_pitch(25.0, -8.0))
    depth, _ = BoxRoom().ray_depth(cam)
    np.save(d / "depth.npy", depth.astype(np.float32))
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(d / "photo.png")
    return d / "photo.png", d / "depth.npy"


@pytest.fixture(scope="module")
def tiny_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("camnet")
    PointCloudCameraNet(CameraNetConfig(num_points=128, centroids=(16, 4), neighbours=8, widths=((16,), (16,)),
                                        global_width=16)).save_pretrained(path)
    return path


def test_parse_fov() -> None:
    assert parse_fov(None) is None and parse_fov("auto") == "auto" and parse_fov("AUTO ") == "auto"
    assert parse_fov("60") == 60.0 and parse_fov(45) == 45.0
    for bad in ("wide", "0.5", 200):
        with pytest.raises(InputError):
            parse_fov(bad)


def test_generate_scene_auto_fov_geometric_finds_the_lens(room: tuple[Path, Path]) -> None:
    photo, depth = room
    scene = generate_scene(photo, mode="single", depth=depth, fov_deg="auto",
                           settings=GenerationSettings(max_side=None, camera_method="geometric"))
    cam = scene.meta["camera"]
    assert cam["method"] == "geometric" and cam["shift_applied"] is False
    assert cam["fov_x_deg"] == pytest.approx(TRUE_FOV, abs=3.0)
    assert scene.cameras[0].intrinsics.fov_x_deg == pytest.approx(cam["fov_x_deg"])
    # The default would have been 53.13 degrees: 22 degrees off.
    fixed = generate_scene(photo, mode="single", depth=depth, settings=GenerationSettings(max_side=None))
    assert fixed.meta["camera"] == {"method": "fixed"}


def test_run_cli_fov_auto_records_estimate_and_fallback(room: tuple[Path, Path], tiny_camera: Path,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo, depth = room
    out = tmp_path / "scene.ply"
    rc = cli_main(["run", "--no-progress", "--image", str(photo), "--depth", str(depth), "--mode", "single",
                   "--fov", "auto", "--camera-model", str(tiny_camera), "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    side = json.loads(out.with_suffix(".json").read_text())
    cam = side["extra"]["camera"]
    assert cam["method"] == "module+refine" and cam["fallback_reason"] is None  # "auto" with a measured --depth
    assert side["extra"]["fov_deg"] == pytest.approx(cam["fov_x_deg"])
    assert side["cameras"][0]["intrinsics"]["fx"] == pytest.approx(cam["focal_px"], rel=1e-5)
    # A depth with no relief cannot tell the camera: the documented fallback, recorded with its reason.
    flat = tmp_path / "flat.npy"
    np.save(flat, np.full((H, W), 2.0, np.float32))
    rc = cli_main(["run", "--no-progress", "--image", str(photo), "--depth", str(flat), "--mode", "single",
                   "--fov", "auto", "--camera-model", str(tiny_camera), "-o", str(tmp_path / "flat.ply")])
    assert rc == 0
    cam = json.loads((tmp_path / "flat.json").read_text())["extra"]["camera"]
    assert cam["method"] == "fallback" and "relief" in cam["fallback_reason"] and cam["fov_x_deg"] == 53.13
    capsys.readouterr()
    rc = cli_main(["run", "--no-progress", "--image", str(photo), "--fov", "sideways", "-o", str(tmp_path / "x.ply")])
    assert rc == 2 and "auto" in capsys.readouterr().err
