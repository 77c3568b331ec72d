"""Training the splatter network: it overfits one scene, and `gld8tr train` runs, checkpoints and resumes."""

from __future__ import annotations

import csv
import json

import numpy as np
import torch

from core.gaussians.rasterize import psnr, rasterize_reference
from core.splatter import SplatterConfig, SplatterNet
from training.splatter_data import render_split
from training.splatter_trainer import render_views


def test_net_overfits_one_scene():
    torch.manual_seed(0)
    cache = render_split(1, 2, 32, 32, seed=3, split="train")
    batch = cache.batch(np.arange(1), "true")
    net = SplatterNet(SplatterConfig(base_channels=8, channel_mults=(1, 2, 4), groups=4))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    target = batch["rgb"][0, 1].permute(1, 2, 0)

    def novel_psnr() -> float:
        with torch.no_grad():
            return psnr(render_views(net, batch, "true", rasterize_reference, [1])[0][0].clamp(0, 1), target)

    before = novel_psnr()
    for _ in range(40):
        (image,) = render_views(net, batch, "true", rasterize_reference, [1])[0]
        loss = torch.mean((image - target) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = novel_psnr()
    assert after > before + 2.0, (before, after)


def test_train_cli_checkpoints_and_resumes(tmp_path):
    from gld8tr.cli import main as cli_main

    cfg = tmp_path / "s.yaml"
    cfg.write_text(json.dumps({
        "task": "splatter", "input_depth": "predicted",
        "model": {"base_channels": 4, "channel_mults": [1, 2], "groups": 2},
        "data": {"train_scenes": 4, "val_scenes": 2, "targets": 1, "height": 24, "width": 32,
                 "cache_dir": str(tmp_path / "cache")},
        "batch_size": 2, "max_steps": 3, "ssim_from_step": 2, "eval_every": 3, "save_every": 1, "log_every": 1,
    }))
    out = tmp_path / "run"
    assert cli_main(["train", "--config", str(cfg), "--out", str(out)]) == 0
    assert cli_main(["train", "--config", str(cfg), "--out", str(out)]) == 2  # refuses to overwrite a run
    assert cli_main(["train", "--out", str(out), "--resume", "--max-steps", "5"]) == 0
    with open(out / "metrics.csv") as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh)]
    assert steps == sorted(steps) and steps[-1] == 5
    metrics = json.loads((out / "best" / "metrics.json").read_text())
    assert metrics["input_depth"] == "predicted" and np.isfinite(metrics["val_psnr_novel"])
    assert SplatterNet.from_pretrained(out / "last").config.depth_input
