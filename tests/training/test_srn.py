"""The SRN-cars reader on a small fixture written in that layout, and a splatter training run on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from core.errors import InputError
from training.data.srn import SRNReader, srn_cache


def write_srn_fixture(root, objects: int = 2, views: int = 3, size: int = 32) -> list[np.ndarray]:
    """``root/cars_train/<object>/{rgb,pose,intrinsics.txt}`` with RGBA PNGs and orbit poses; returns the poses."""
    from core.camera import look_at

    rng = np.random.default_rng(0)
    poses = []
    for o in range(objects):
        obj = root / "cars_train" / f"obj{o:03d}"
        (obj / "rgb").mkdir(parents=True)
        (obj / "pose").mkdir()
        # Written for 128-px images, as the SRN release (whose PNGs are 128 px and intrinsics say cx = 64).
        (obj / "intrinsics.txt").write_text("131.25 64. 64. 0.\n0. 0. 0.\n1.\n128 128\n")
        for v in range(views):
            rgba = rng.integers(0, 256, (size, size, 4), dtype=np.uint8)
            rgba[0, 0, 3] = 0  # one transparent pixel: must come out white
            Image.fromarray(rgba, "RGBA").save(obj / "rgb" / f"{v:06d}.png")
            a = 2 * np.pi * v / views
            eye = np.array([1.3 * np.sin(a), -0.4, -1.3 * np.cos(a)], np.float32)
            pose = look_at(eye, np.zeros(3, np.float32)).numpy()
            poses.append(pose)
            (obj / "pose" / f"{v:06d}.txt").write_text(" ".join(f"{x:.8f}" for x in pose.reshape(-1)) + "\n")
    return poses


def test_reader_parses_the_fixture(tmp_path):
    poses = write_srn_fixture(tmp_path)
    reader = SRNReader(tmp_path, "train")  # finds cars_train
    assert reader.scene_ids() == ["obj000", "obj001"]
    frames = reader.frames("obj001")
    assert len(frames) == 3
    f = frames[2]
    assert f.image.shape == (32, 32, 3) and f.image.dtype == np.uint8
    assert tuple(f.image[0, 0]) == (255, 255, 255)
    np.testing.assert_allclose(f.cam_to_world, poses[5], atol=1e-6)
    np.testing.assert_allclose(f.K, [[131.25 / 4, 0, 15.5], [0, 131.25 / 4, 15.5], [0, 0, 1]], atol=1e-5)
    assert not f.depth.any()


def test_cache_views_are_relative_to_the_input_camera(tmp_path):
    write_srn_fixture(tmp_path)
    cache = srn_cache(tmp_path, "train", targets=2, seed=0, depth_model=None)
    assert cache.images.shape == (2, 3, 32, 32, 3)
    np.testing.assert_allclose(cache.poses[:, 0], np.broadcast_to(np.eye(4), (2, 4, 4)), atol=1e-5)
    with pytest.raises(InputError, match="no SRN object"):
        srn_cache(tmp_path, "train", targets=3, depth_model=None)


def test_bad_layouts_give_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no split folder"):
        SRNReader(tmp_path, "val")
    write_srn_fixture(tmp_path, objects=1)
    (tmp_path / "cars_train" / "obj000" / "pose" / "000001.txt").write_text("1 2 3\n")
    with pytest.raises(InputError, match="16 numbers"):
        SRNReader(tmp_path, "train").frames("obj000")[1]


def test_train_on_srn_layout(tmp_path):
    from core.splatter import SplatterNet
    from gld8tr.cli import main as cli_main

    write_srn_fixture(tmp_path / "srn", objects=4)
    (tmp_path / "srn" / "cars_val").symlink_to(tmp_path / "srn" / "cars_train")
    cfg = tmp_path / "srn.yaml"
    cfg.write_text(json.dumps({
        "task": "splatter", "input_depth": "none",
        "model": {"base_channels": 4, "channel_mults": [1, 2], "groups": 2},
        "data": {"source": "srn", "root": str(tmp_path / "srn"), "targets": 1},
        "batch_size": 2, "max_steps": 2, "eval_every": 2, "save_every": 1, "log_every": 1,
    }))
    assert cli_main(["train", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 0
    net = SplatterNet.from_pretrained(tmp_path / "run" / "best")
    assert not net.config.depth_input
