"""The 3D Ken Burns and Taskonomy readers on small fixtures written in each dataset's own layout."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.camera.data import DepthCache
from training.data.kenburns import KenBurnsReader
from training.data.taskonomy import TaskonomyReader


def _write_kenburns(root: Path, fov: float = 62.0) -> np.ndarray:
    import OpenEXR

    scene, depth_dir = root / "asdf-flying", root / "asdf-flying-depth"
    scene.mkdir(parents=True)
    depth_dir.mkdir()
    H, W = 12, 16
    depth_mm = np.linspace(500, 8000, H * W, dtype=np.float32).reshape(H, W)
    depth_mm[0, 0] = 1e9  # sky: far beyond max_depth
    (scene / "00001-meta.json").write_text(json.dumps({"fltFov": fov, "strTitle": "fixture"}))
    for view in ("tl", "br"):
        Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(scene / f"00001-{view}-image.png")
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, {"Z": depth_mm}).write(str(depth_dir / f"00001-{view}-depth.exr"))
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(scene / "00001-tr-image.png")  # no depth: skipped
    (root / "lonely").mkdir()  # no -depth sibling: not a scene
    return depth_mm


def test_kenburns_reader_parses_fixture(tmp_path: Path) -> None:
    depth_mm = _write_kenburns(tmp_path)
    reader = KenBurnsReader(tmp_path)
    assert reader.scene_ids() == ["asdf-flying"]
    assert reader.frame_ids("asdf-flying") == ["00001-tl", "00001-br"]
    f = reader.frames("asdf-flying")[1]
    assert f.image.shape == (12, 16, 3) and f.depth.shape == (12, 16)
    assert f.depth[0, 0] == 0  # beyond max_depth
    np.testing.assert_allclose(f.depth[1:], depth_mm[1:] / 1000, rtol=1e-6)
    assert f.K[0, 0] == pytest.approx(8 / math.tan(math.radians(31.0)))  # FOV across the larger side (16 px)
    assert f.K[0, 2] == pytest.approx(7.5) and f.K[1, 2] == pytest.approx(5.5)
    cache = DepthCache.from_frames(reader.frames("asdf-flying"))
    assert cache.focal_n[0] == pytest.approx(1 / math.tan(math.radians(31.0)))
    with pytest.raises(KeyError):
        reader.frame_ids("lonely")


def _write_taskonomy(root: Path, fov_rad: float = 1.0) -> np.ndarray:
    b = root / "allensville"
    for sub in ("rgb", "depth_zbuffer", "point_info"):
        (b / sub).mkdir(parents=True)
    H = W = 16
    raw = np.linspace(256, 4096, H * W).astype(np.uint16).reshape(H, W)
    raw[3, 4] = 65535
    stem = "point_7_view_2_domain_"
    Image.fromarray(raw).save(b / "depth_zbuffer" / f"{stem}depth_zbuffer.png")
    Image.fromarray(np.full((H, W, 3), 40, np.uint8)).save(b / "rgb" / f"{stem}rgb.png")
    (b / "point_info" / f"{stem}point_info.json").write_text(json.dumps(
        {"field_of_view_rads": fov_rad, "point_uuid": "x", "view_id": 2, "resolution": 512}))
    # A view without point_info is not a frame.
    Image.fromarray(raw).save(b / "depth_zbuffer" / "point_8_view_0_domain_depth_zbuffer.png")
    return raw


def test_taskonomy_reader_parses_fixture(tmp_path: Path) -> None:
    raw = _write_taskonomy(tmp_path)
    reader = TaskonomyReader(tmp_path)
    assert reader.scene_ids() == ["allensville"]
    assert reader.frame_ids("allensville") == ["7_2"]
    f = reader.frames("allensville")[0]
    assert f.depth[3, 4] == 0  # 65535 = no depth
    expected = raw.astype(np.float32) / 512
    expected[3, 4] = 0
    np.testing.assert_allclose(f.depth, expected, rtol=1e-6)
    assert f.K[0, 0] == pytest.approx(8 / math.tan(0.5))
    assert f.image.shape == (16, 16, 3)


def test_taskonomy_reader_rejects_bad_fov(tmp_path: Path) -> None:
    _write_taskonomy(tmp_path, fov_rad=4.0)
    with pytest.raises(ValueError, match="field_of_view_rads"):
        TaskonomyReader(tmp_path).frames("allensville")[0]


def test_real_frames_join_the_camera_training_cache(tmp_path: Path) -> None:
    """A recipe's ``data.real`` sources are read in their layout, cropped to the training aspect and resized
    with square pixels (the focal per half width is what the module learns)."""
    from training.camera.config import RealSource
    from training.camera.data import real_depth_cache

    _write_taskonomy(tmp_path / "taskonomy", fov_rad=1.0)
    _write_kenburns(tmp_path / "kenburns", fov=62.0)
    cache = real_depth_cache([RealSource(kind="taskonomy", root=str(tmp_path / "taskonomy")),
                              RealSource(kind="kenburns", root=str(tmp_path / "kenburns"), max_frames=1)], 6, 8)
    assert cache.depths.shape == (2, 6, 8)
    # Taskonomy 16x16 with a 1-rad FOV cropped to 16x12 keeps its width: same focal per half width.
    assert cache.focal_n[0] == pytest.approx(1 / math.tan(0.5), rel=1e-5)
    assert cache.focal_n[1] == pytest.approx(1 / math.tan(math.radians(31.0)), rel=1e-5)
