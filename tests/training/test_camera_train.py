"""Training of the camera module (training/camera): the recipe dispatch, an overfit of a handful of frames, and
a resumable ``gld8tr train`` run of a ``task: camera`` recipe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from core.camera_recovery import CameraNetConfig, PointCloudCameraNet
from core.errors import InputError
from training.camera.config import CameraTrainConfig, DistortionSection
from training.camera.data import DepthCache, distorted_batch
from training.synth import SyntheticReader
from training.train_config import TrainConfig, load_recipe

ROOT = Path(__file__).resolve().parents[2]


def _frames(n: int = 4) -> DepthCache:
    reader = SyntheticReader(n, 1, 48, 64, seed=5, shadows=False, fov_range_deg=(40, 95))
    return DepthCache.from_frames(f for sid in reader.scene_ids() for f in reader.frames(sid))


def test_recipe_dispatch(tmp_path: Path) -> None:
    (tmp_path / "cam.yaml").write_text("task: camera\nmax_steps: 5\n")
    (tmp_path / "depth.yaml").write_text("max_steps: 5\n")
    (tmp_path / "bad.yaml").write_text("task: teleport\n")
    (tmp_path / "typo.yaml").write_text("task: camera\nmax_stepz: 5\n")
    assert isinstance(load_recipe(tmp_path / "cam.yaml"), CameraTrainConfig)
    assert isinstance(load_recipe(tmp_path / "depth.yaml"), TrainConfig)
    with pytest.raises(InputError, match="task"):
        load_recipe(tmp_path / "bad.yaml")
    with pytest.raises(InputError, match="max_stepz"):
        load_recipe(tmp_path / "typo.yaml")
    first = load_recipe(ROOT / "configs" / "camera.yaml")
    assert first.task == "camera" and first.data.fov_range_deg == (35.0, 100.0)
    shipped = load_recipe(ROOT / "configs" / "camera-votes.yaml")  # the recipe of core/weights/gld8tr-camera
    assert shipped.model.pair_bins > 0 and shipped.model.normals and shipped.focal_max_shift is not None


@pytest.mark.parametrize("pair_bins", [0, 24])
def test_module_overfits_a_few_frames(pair_bins: int) -> None:
    """A small net (with or without the focal votes) must drive the L1 of shift and log focal scale on 4 fixed
    distorted frames far below the error of predicting the mean (what an untrained or broken net does)."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: more threads only wait on each other (and on a busy CI machine, badly)
    cache = _frames(4)
    gen = torch.Generator().manual_seed(0)
    cloud, _ = distorted_batch(cache, np.arange(4), gen, DistortionSection(depth_noise=0.0, p_no_shift=0.0), 256)
    pts = cloud.points()
    net = PointCloudCameraNet(CameraNetConfig(num_points=256, centroids=(32, 8), neighbours=8,
                                              widths=((32, 32), (32, 32)), global_width=64,
                                              normals=pair_bins > 0, pair_bins=pair_bins))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    # Cosine decay: at a constant rate the L1 keeps bouncing between 0.1x and 0.45x of the baseline from step to
    # step, so whether the last step passed depended on the CPU's rounding; decayed it settles near 0.004x.
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 150)
    baseline = float((cloud.shift - cloud.shift.mean()).abs().mean()
                     + (cloud.log_focal_scale - cloud.log_focal_scale.mean()).abs().mean())
    for _ in range(150):
        s, la = net(pts, cloud.uv)
        loss = (s - cloud.shift).abs().mean() + (la - cloud.log_focal_scale).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        s, la = net(pts, cloud.uv)
        loss = (s - cloud.shift).abs().mean() + (la - cloud.log_focal_scale).abs().mean()
    torch.set_num_threads(threads)
    assert baseline > 0.1
    assert loss.item() < 0.05 * baseline


@pytest.mark.slow
def test_train_cli_camera_recipe_resumes(tmp_path: Path) -> None:
    recipe = {"task": "camera", "max_steps": 4, "eval_every": 2, "save_every": 2, "batch_size": 2,
              "num_threads": 1, "focal_max_shift": 0.1,
              "model": {"num_points": 64, "centroids": [8, 4], "neighbours": 4, "widths": [[8], [8]],
                        "global_width": 8, "normals": True, "pair_bins": 8},
              "data": {"train_scenes": 2, "val_scenes": 1, "frames_per_scene": 1, "height": 24, "width": 32}}
    cfg = tmp_path / "cam.yaml"
    cfg.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    env_cmd = [sys.executable, "-m", "gld8tr", "train"]
    first = subprocess.run([*env_cmd, "--config", str(cfg), "--out", str(out), "--max-steps", "2"],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert first.returncode == 0, first.stderr
    assert json.loads((out / "state.json").read_text())["step"] == 2
    again = subprocess.run([*env_cmd, "--out", str(out), "--resume", "--max-steps", "4"],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "state.json").read_text())["step"] == 4
    model = PointCloudCameraNet.from_pretrained(out / "best")
    assert model.config.num_points == 64 and model.config.pair_bins == 8
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 4 and metrics["fov_median_deg"] >= 0 and metrics["fov_metric_median_deg"] >= 0
