"""``gld8tr train`` with a ``task: recon`` recipe: data from synthetic sequences, a few steps, a usable checkpoint."""

from __future__ import annotations

import json

import pytest

from core.mesh.refine import VolumeRefineNet
from gld8tr.cli import main

TINY = """task: recon
model: {base_channels: 4, levels: 2}
data: {train_scenes: 1, val_scenes: 1, frames: 4, height: 36, width: 48, crops_per_scene: 3, crop: 16}
batch_size: 2
max_steps: 2
save_every: 2
log_every: 1
val_crops: 2
"""


@pytest.mark.slow
def test_recon_recipe_trains_and_saves(tmp_path, capsys):
    cfg = tmp_path / "recon.yaml"
    cfg.write_text(TINY)
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["step"] == 2 and {"band_l1_model", "band_l1_fused", "band_f1", "band_threshold"} <= set(metrics)
    assert 0 < metrics["band_threshold"] < 1
    net = VolumeRefineNet.from_pretrained(tmp_path / "run")
    assert net.config.base_channels == 4 and net.config.voxel_size == 0.04


def test_bad_recipe_is_an_input_error(tmp_path, capsys):
    cfg = tmp_path / "recon.yaml"
    cfg.write_text("task: recon\nbogus: 1\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 2
    assert "invalid reconstruction recipe" in capsys.readouterr().err
