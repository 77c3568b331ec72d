"""Dataset readers on tiny fixtures written in each dataset's own on-disk layout.

The fixtures are synthetic views with exact geometry, saved the way each dataset stores them (JPEG colour,
16-bit millimetre PNGs, 4x4 text poses, Hypersim's HDF5 files, distances and OpenGL camera axes), so reading
them back must reproduce the geometry: that checks decoding and every unit and axis convention at once.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.camera import Intrinsics, pose_from_yaw_pitch
from training.data.decode import write_depth_png
from training.data.frame import Frame, default_intrinsics
from training.data.images import ImageFolderReader
from training.data.nyu import NYU_K, NYUv2Reader
from training.data.pairs import reproject_depth
from training.data.scannet import ScanNetReader
from training.synth import SyntheticScene
from training.synth.scene import single_threaded

H, W = 48, 64


@pytest.fixture(autouse=True)
def _one_thread():
    with single_threaded():
        yield


@pytest.fixture(scope="module")
def views() -> list[Frame]:
    """Three views of one synthetic room with a 60 degree FOV (Hypersim's camera); the third is the first moved
    by 15 cm and turned by 5 degrees, so the two overlap."""
    with single_threaded():
        scene = SyntheticScene.random(31, "indoor")
        cams = scene.sample_cameras(2, np.random.default_rng(0), H, W, fov_range_deg=(60.0, 60.0))
        frames = [scene.render_camera(c) for c in cams]
        moved = frames[0].cam_to_world @ pose_from_yaw_pitch(5.0, 0.0, (0.15, 0.0, 0.0)).numpy()
        frames.append(scene.render(frames[0].K, moved, H, W, frame_id="2"))
        return frames


def test_nyu_sync_layout(tmp_path: Path):
    root = tmp_path / "sync"
    rng = np.random.default_rng(0)
    depths = {}
    for scene, size in (("kitchen_0001", (480, 640)), ("office_0002", (240, 320))):
        folder = root / scene
        folder.mkdir(parents=True)
        for i in (0, 5):
            img = np.zeros((*size, 3), dtype=np.uint8)
            img[..., 0] = np.linspace(0, 255, size[1])[None]
            img[..., 1] = 90 + 8 * i
            Image.fromarray(img).save(folder / f"rgb_{i:05d}.jpg", quality=95)
            mm = rng.integers(500, 9000, size=size).astype(np.uint16)
            mm[:3] = 0  # no measurement
            Image.fromarray(mm).save(folder / f"sync_depth_{i:05d}.png")
            depths[(scene, f"{i:05d}")] = (mm, img)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "office_0002" / "rgb_00009.jpg")  # no depth
    reader = NYUv2Reader(tmp_path)  # finds the sync folder itself
    assert reader.scene_ids() == ["kitchen_0001", "office_0002"]
    frames = reader.frames("office_0002")
    assert frames.frame_ids == ["00000", "00005"]
    for scene in reader.scene_ids():
        for f in reader.frames(scene):
            mm, img = depths[(scene, f.frame_id)]
            np.testing.assert_array_equal(f.depth, mm.astype(np.float32) / 1000)
            assert (f.depth[:3] == 0).all() and f.depth.dtype == np.float32
            assert np.abs(f.image.astype(int) - img).mean() < 3  # JPEG
            np.testing.assert_array_equal(f.cam_to_world, np.eye(4))
    np.testing.assert_allclose(reader.frames("kitchen_0001")[0].K, NYU_K)
    half = Intrinsics.from_matrix(torch.from_numpy(NYU_K), 640, 480).scaled(0.5).matrix().numpy()
    np.testing.assert_allclose(reader.frames("office_0002")[0].K, half, rtol=1e-6)
    with pytest.raises(KeyError):
        reader.frames("nope")


def _write_scannet(root: Path, views: list[Frame]) -> dict[str, Frame]:
    folder = root / "scene0000_00"
    for sub in ("color", "depth", "pose", "intrinsic"):
        (folder / sub).mkdir(parents=True)
    K4 = np.eye(4)
    K4[:3, :3] = views[0].K
    np.savetxt(folder / "intrinsic" / "intrinsic_depth.txt", K4)
    Kc = K4.copy()
    Kc[:2] *= 2
    np.savetxt(folder / "intrinsic" / "intrinsic_color.txt", Kc)
    written = {}
    for number, frame in zip((0, 2, 10), views, strict=True):
        Image.fromarray(frame.image).resize((2 * W, 2 * H), Image.BILINEAR).save(
            folder / "color" / f"{number}.jpg", quality=95
        )
        write_depth_png(folder / "depth" / f"{number}.png", frame.depth)
        np.savetxt(folder / "pose" / f"{number}.txt", frame.cam_to_world)
        written[str(number)] = frame
    # Frame 7: tracking lost (ScanNet writes -inf poses); must be skipped.
    Image.fromarray(views[0].image).save(folder / "color" / "7.jpg")
    write_depth_png(folder / "depth" / "7.png", views[0].depth)
    np.savetxt(folder / "pose" / "7.txt", np.full((4, 4), -np.inf))
    (root / "not_a_scene").mkdir()
    return written


def test_scannet_exported_layout_roundtrip_and_pairs(tmp_path: Path, views: list[Frame]):
    written = _write_scannet(tmp_path, views)
    reader = ScanNetReader(tmp_path)
    assert reader.scene_ids() == ["scene0000_00"]
    frames = reader.frames("scene0000_00")
    assert frames.frame_ids == ["0", "2", "10"]  # numeric order, invalid pose skipped
    for f in frames:
        ref = written[f.frame_id]
        assert f.image.shape == (H, W, 3)  # colour resized to the depth camera
        np.testing.assert_allclose(f.depth, ref.depth, atol=5e-4)  # millimetre rounding
        np.testing.assert_allclose(f.cam_to_world, ref.cam_to_world, atol=1e-6)
        np.testing.assert_allclose(f.K, ref.K, rtol=1e-6)
        assert np.abs(f.image.astype(int) - ref.image).mean() < 12  # JPEG + down/up-sampling
    # The poses are usable: view 0's depth seen from view 10 matches view 10's own depth where covered.
    a, b = frames[0], frames[2]
    reproj = reproject_depth(a, b)
    both = (reproj > 0) & (b.depth > 0)
    assert both.mean() > 0.2
    close = np.abs(reproj[both] - b.depth[both]) <= 0.03 * b.depth[both]
    assert close.mean() > 0.8
    assert ScanNetReader(tmp_path, frame_step=2).frames("scene0000_00").frame_ids == ["0", "2", "10"]
    assert ScanNetReader(tmp_path, frame_step=5).frames("scene0000_00").frame_ids == ["0", "10"]


def test_hypersim_layout_converts_distance_axes_and_units(tmp_path: Path, views: list[Frame]):
    h5py = pytest.importorskip("h5py")
    from training.data.hypersim import HypersimReader, distance_to_z_depth, hypersim_intrinsics

    scene_dir = tmp_path / "ai_001_001"
    final = scene_dir / "images" / "scene_cam_00_final_hdf5"
    geo = scene_dir / "images" / "scene_cam_00_geometry_hdf5"
    detail = scene_dir / "_detail" / "cam_00"
    for p in (final, geo, detail):
        p.mkdir(parents=True)
    inch = 0.0254
    with open(scene_dir / "_detail" / "metadata_scene.csv", "w", newline="") as f:
        csv.writer(f).writerows([["parameter_name", "parameter_value"], ["meters_per_asset_unit", inch]])
    K = hypersim_intrinsics(H, W)
    np.testing.assert_allclose(K, views[0].K, rtol=1e-5)  # the fixture views use Hypersim's camera
    positions, orientations = [], []
    for i, frame in enumerate(views):
        v, u = np.mgrid[0:H, 0:W]
        ray = np.sqrt(((u - K[0, 2]) / K[0, 0]) ** 2 + ((v - K[1, 2]) / K[1, 1]) ** 2 + 1)
        distance = np.where(frame.depth > 0, frame.depth * ray, np.nan)  # Hypersim: NaN where nothing is hit
        linear = (frame.image / 255.0) ** 2.2 * 3.0  # HDR, before tone mapping
        with h5py.File(geo / f"frame.{i:04d}.depth_meters.hdf5", "w") as f:
            f["dataset"] = distance.astype(np.float16)
        with h5py.File(final / f"frame.{i:04d}.color.hdf5", "w") as f:
            f["dataset"] = linear.astype(np.float16)
        positions.append(frame.cam_to_world[:3, 3] / inch)
        orientations.append(frame.cam_to_world[:3, :3] @ np.diag([1.0, -1.0, -1.0]))  # OpenCV -> OpenGL axes
    with h5py.File(detail / "camera_keyframe_positions.hdf5", "w") as f:
        f["dataset"] = np.array(positions)
    with h5py.File(detail / "camera_keyframe_orientations.hdf5", "w") as f:
        f["dataset"] = np.array(orientations)
    reader = HypersimReader(tmp_path)
    assert reader.scene_ids() == ["ai_001_001/cam_00"]
    frames = reader.frames("ai_001_001/cam_00")
    assert frames.frame_ids == ["0000", "0001", "0002"]
    for f, ref in zip(frames, views, strict=True):
        np.testing.assert_allclose(f.depth, ref.depth, rtol=2e-3)  # float16 storage
        np.testing.assert_allclose(f.cam_to_world, ref.cam_to_world, atol=1e-5)
        assert f.image.dtype == np.uint8 and f.image.shape == (H, W, 3)
        corr = np.corrcoef(f.image.reshape(-1).astype(float), ref.image.reshape(-1).astype(float))[0, 1]
        assert corr > 0.9  # tone mapping changes exposure, not content
    assert distance_to_z_depth(np.array([[np.nan, -1.0]]), K)[0].tolist() == [0.0, 0.0]


def test_image_folder_places_style(tmp_path: Path):
    (tmp_path / "a" / "airfield").mkdir(parents=True)
    (tmp_path / "b" / "bar").mkdir(parents=True)
    Image.fromarray(np.full((30, 40, 3), 120, np.uint8)).save(tmp_path / "a" / "airfield" / "00000001.jpg")
    Image.fromarray(np.full((20, 50, 3), 60, np.uint8)).save(tmp_path / "b" / "bar" / "00000002.png")
    (tmp_path / "b" / "notes.txt").write_text("not an image")
    reader = ImageFolderReader(tmp_path)
    assert reader.scene_ids() == ["a/airfield/00000001.jpg", "b/bar/00000002.png"]
    (f,) = reader.frames("b/bar/00000002.png")
    assert f.image.shape == (20, 50, 3) and (f.depth == 0).all() and f.depth.shape == (20, 50)
    np.testing.assert_array_equal(f.K, default_intrinsics(20, 50))
    assert f.K[0, 0] == 50  # focal = image width
    np.testing.assert_array_equal(f.cam_to_world, np.eye(4))
    with_depth = ImageFolderReader(tmp_path, depth_fn=lambda img: np.full(img.shape[:2], 2.5))
    assert (with_depth.frames("a/airfield/00000001.jpg")[0].depth == 2.5).all()


def test_frame_resize_keeps_intrinsics_consistent(views: list[Frame]):
    f = views[0]
    small = f.resized(H // 2, W // 2)
    ref = Intrinsics.from_matrix(torch.from_numpy(f.K), W, H).scaled(0.5).matrix().numpy()
    np.testing.assert_allclose(small.K, ref, rtol=1e-6)
    assert small.image.shape == (H // 2, W // 2, 3) and small.normals.shape == (H // 2, W // 2, 3)
    assert set(np.unique(small.depth)) <= set(np.unique(f.depth))  # nearest sampling: no mixed depths
    with pytest.raises(ValueError):
        Frame(f.image, f.depth[:-1], f.K, f.cam_to_world, "s", "0")
