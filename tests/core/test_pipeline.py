"""The generation loop on a synthetic room with exact geometry and on the bundled real photos."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import photo_array
from plyfile import PlyData

from benchmark.box_room import BoxRoom, RoomOracle, room_cameras
from core.backends.classical_fill import LaplacianFill
from core.backends.patchmatch_inpainter import PatchMatchInpainter
from core.errors import Cancelled, InputError
from core.pipeline import GenerationSettings, generate_scene, save_scene
from core.trajectory import poses_for_mode

W, H = 128, 96
HALF_FOV = 53.13 / 2


def _azimuth_deg(points: np.ndarray) -> np.ndarray:
    """Heading of each point seen from the input camera, degrees in (-180, 180], 0 = straight ahead."""
    return np.degrees(np.arctan2(points[:, 0], points[:, 2]))


def _room_scene(mode: str, room: BoxRoom | None = None, width: int = W, height: int = H, **kwargs):
    room = room or BoxRoom()
    cams = room_cameras(poses_for_mode(mode), width, height)
    image, depth = room.photo(cams[0])
    oracle = RoomOracle(room, cams)
    scene = generate_scene(
        image, mode=mode, depth=depth, inpainter=PatchMatchInpainter(), depth_model=oracle, device="cpu", **kwargs
    )
    return room, scene, depth


def test_single_room_lifts_every_pixel_onto_the_surfaces() -> None:
    room, scene, depth = _room_scene("single")
    assert scene.num_points == int((depth > 0).sum()) == W * H
    err = room.surface_distance(scene.points)
    # Exact depth lifts exactly, except box side faces seen at grazing angles, which edge snapping flattens.
    assert np.median(err) < 1e-6 and (err > 1e-3).mean() < 0.005, (np.median(err), (err > 1e-3).mean())
    assert err.max() < 0.25
    assert scene.normals is not None and np.allclose(np.linalg.norm(scene.normals, axis=1), 1, atol=1e-3)


@pytest.fixture(scope="module")
def room_stage():
    return _room_scene("stage")


def test_stage_room_widens_both_sides_on_the_true_surfaces(room_stage) -> None:
    room, scene, _ = room_stage
    single = W * H
    assert scene.num_points > 2 * single
    az = _azimuth_deg(scene.points)
    assert (az > HALF_FOV + 10).sum() > 0.2 * single and (az < -HALF_FOV - 10).sum() > 0.2 * single
    err = room.surface_distance(scene.points)
    # New points come from exact depth; only edge snapping at silhouettes can move a point off its surface.
    assert np.median(err) < 1e-5 and np.percentile(err, 99.5) < 0.01, (np.median(err), np.percentile(err, 99.5))
    assert len(scene.views) == len(scene.masks) == len(scene.depths) == 5
    assert not scene.masks[0].any() and all(m.any() for m in scene.masks[1:])


def test_device_loop_gives_the_host_loops_scene(room_stage) -> None:
    """The device path of step 4 (torch masks, tensor completion, on-device lifting), forced on the CPU, builds
    the same room: same views, nearly the same points on the true surfaces (nearest-pixel ties may differ)."""
    room, host, _ = room_stage
    _, dev, _ = _room_scene("stage", settings=GenerationSettings(device_loop=True))
    assert abs(dev.num_points - host.num_points) < 0.01 * host.num_points
    err = room.surface_distance(dev.points)
    assert np.median(err) < 1e-5 and np.percentile(err, 99.5) < 0.01
    for a, b, ma, mb in zip(host.depths, dev.depths, host.masks, dev.masks, strict=True):
        assert isinstance(b, np.ndarray) and isinstance(mb, np.ndarray) and b.dtype == np.float32
        assert (ma == mb).mean() > 0.995
        assert (np.abs(a - b) < 1e-4).mean() > 0.99
    assert dev.meta["new_points_per_view"][0] == host.meta["new_points_per_view"][0]
    assert all(isinstance(n, int) for n in dev.meta["new_points_per_view"])


def test_device_loop_with_the_network_completer(random_depth_ckpt: str) -> None:
    settings = GenerationSettings(max_side=96)
    host = generate_scene(photo_array("chelsea.jpg"), mode="stage", depth_model=random_depth_ckpt, device="cpu",
                          settings=settings)
    dev = generate_scene(photo_array("chelsea.jpg"), mode="stage", depth_model=random_depth_ckpt, device="cpu",
                         settings=GenerationSettings(max_side=96, device_loop=True))
    assert abs(dev.num_points - host.num_points) < 0.02 * host.num_points
    for a, b in zip(host.depths, dev.depths, strict=True):
        assert (np.abs(a - b) <= 1e-3 * np.maximum(a, 1e-3)).mean() > 0.95


def test_360_room_covers_every_45_degree_sector() -> None:
    room, scene, _ = _room_scene("360", width=64, height=48)
    az = _azimuth_deg(scene.points)
    counts = np.histogram(az, bins=8, range=(-180, 180))[0]
    assert (counts > 0.05 * 64 * 48).all(), counts
    err = room.surface_distance(scene.points)
    assert np.median(err) < 1e-5 and (err > 0.01).mean() < 0.01 and err.max() < 0.25


def test_smooth_depth_does_not_make_rubber_sheets() -> None:
    """A blurred (network-like) depth ramps between the front box and the wall: no point may float in between."""
    from scipy import ndimage

    room = BoxRoom()
    cams = room_cameras(poses_for_mode("single"), W, H)
    image, exact = room.photo(cams[0])
    blurred = ndimage.gaussian_filter(exact, 1.5).astype(np.float32)
    scene = generate_scene(image, mode="single", depth=blurred, device="cpu")
    floating = room.surface_distance(scene.points) > 0.1
    assert floating.mean() < 0.005, floating.mean()
    # Without snapping the same depth floats many points between box and wall (so this test can fail).
    raw = generate_scene(image, mode="single", depth=blurred, device="cpu",
                         settings=GenerationSettings(edge_grazing_deg=89.99))
    assert (room.surface_distance(raw.points) > 0.1).mean() > 0.03


def test_single_real_photo_one_point_per_valid_pixel(coffee_512x384: Path, random_depth_ckpt: str) -> None:
    scene = generate_scene(coffee_512x384, mode="single", depth_model=random_depth_ckpt, device="cpu")
    assert scene.views[0].shape == (384, 512, 3)
    valid = int((scene.depths[0] > 0).sum())
    assert valid >= 0.99 * 512 * 384
    assert scene.num_points == valid
    assert scene.meta["backends"]["depth_model"].startswith("ckpt:")


def test_stage_real_photo_spreads_beyond_the_frustum(random_depth_ckpt: str) -> None:
    settings = GenerationSettings(max_side=96)
    single = generate_scene(photo_array("chelsea.jpg"), mode="single", depth_model=random_depth_ckpt,
                            device="cpu", settings=settings)
    stage = generate_scene(photo_array("chelsea.jpg"), "a cat", mode="stage", depth_model=random_depth_ckpt,
                           device="cpu", settings=settings)
    assert stage.num_points > 1.8 * single.num_points
    az = _azimuth_deg(stage.points)
    n = single.num_points
    assert (az > HALF_FOV + 5).sum() > 0.2 * n and (az < -HALF_FOV - 5).sum() > 0.2 * n
    assert np.array_equal(stage.points[:n], single.points)  # the photo's own points are never replaced


@pytest.mark.slow
def test_360_real_photo_covers_the_circle(random_depth_ckpt: str) -> None:
    scene = generate_scene(photo_array("astronaut.jpg"), mode="360", depth_model=random_depth_ckpt, device="cpu",
                           settings=GenerationSettings(max_side=128))
    counts = np.histogram(_azimuth_deg(scene.points), bins=8, range=(-180, 180))[0]
    assert (counts > 0).all(), counts


def test_deterministic_for_a_fixed_seed() -> None:
    image = photo_array("coffee.jpg")
    depth = np.full(image.shape[:2], 3.0, np.float32)
    depth[:, : image.shape[1] // 3] = 1.5
    kwargs = dict(mode="stage", depth=depth, depth_model=LaplacianFill(), device="cpu", seed=7,
                  settings=GenerationSettings(max_side=64))
    a = generate_scene(image, **kwargs)
    b = generate_scene(image, **kwargs)
    assert np.array_equal(a.points, b.points) and np.array_equal(a.colors, b.colors)
    assert all(np.array_equal(x, y) for x, y in zip(a.views, b.views, strict=True))


def test_progress_and_cancel() -> None:
    image = photo_array("chelsea.jpg")
    depth = np.full(image.shape[:2], 2.0, np.float32)
    seen: list[tuple[str, int, int]] = []
    calls = {"n": 0}

    def cancel_after_two() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(Cancelled):
        generate_scene(image, mode="stage", depth=depth, depth_model="nearest", device="cpu",
                       on_progress=lambda *a: seen.append(a), should_cancel=cancel_after_two,
                       settings=GenerationSettings(max_side=64))
    assert seen[0] == ("view", 0, 5) and seen[-1] == ("view", 3, 5)


def test_input_errors() -> None:
    image = photo_array("chelsea.jpg")
    with pytest.raises(InputError, match="unknown mode"):
        generate_scene(image, mode="orbit")
    with pytest.raises(InputError, match="must match"):
        generate_scene(image, mode="single", depth=np.ones((10, 10), np.float32))
    with pytest.raises(InputError, match="unknown inpainter"):
        generate_scene(image, mode="stage", depth=np.ones(image.shape[:2], np.float32), inpainter="photoshop",
                       depth_model="nearest")
    with pytest.raises(InputError, match="cannot predict depth"):
        generate_scene(image, mode="single", depth_model="nearest")
    with pytest.raises(InputError, match="CUDA"):
        import torch

        if torch.cuda.is_available():
            raise InputError("CUDA present: nothing to check")
        generate_scene(image, mode="single", device="cuda")


def test_save_scene_writes_ply_sidecar_and_views(tmp_path: Path, room_stage) -> None:
    _, scene, _ = room_stage
    sidecar = save_scene(scene, tmp_path / "room.ply", views_dir=tmp_path / "views")
    ply = PlyData.read(str(tmp_path / "room.ply"))
    assert ply.byte_order == "<" and len(ply["vertex"]) == scene.num_points
    on_disk = json.loads((tmp_path / "room.json").read_text())
    assert on_disk == sidecar
    assert on_disk["mode"] == "stage" and len(on_disk["cameras"]) == 5
    assert on_disk["backends"]["depth_model"] == "room-oracle"
    assert {"render", "inpaint", "complete", "merge", "total"} <= set(on_disk["timings"])
    assert all((tmp_path / v).is_file() for v in on_disk["views"])
    assert len(list((tmp_path / "views").glob("depth_*.png"))) == 5
    yaws = on_disk["extra"]["azimuths_deg"]
    assert math.isclose(max(yaws), 40, abs_tol=1e-3) and math.isclose(min(yaws), -40, abs_tol=1e-3)


@pytest.mark.slow
def test_stage_on_a_512x384_photo(coffee_512x384: Path, random_depth_ckpt: str) -> None:
    """The acceptance size: stage clearly adds points on both sides of the input frustum."""
    scene = generate_scene(coffee_512x384, "a cup of coffee", mode="stage", depth_model=random_depth_ckpt,
                           device="cpu")
    n = 512 * 384
    assert scene.num_points > 1.8 * n
    az = _azimuth_deg(scene.points)
    assert (az > HALF_FOV + 5).sum() > 0.2 * n and (az < -HALF_FOV - 5).sum() > 0.2 * n


def test_failed_save_leaves_nothing(tmp_path: Path, room_stage) -> None:
    import dataclasses

    _, scene, _ = room_stage
    broken = dataclasses.replace(scene, colors=scene.colors.astype(np.float32))  # PLY writer refuses
    with pytest.raises(ValueError, match="uint8"):
        save_scene(broken, tmp_path / "room.ply")
    assert list(tmp_path.iterdir()) == []
