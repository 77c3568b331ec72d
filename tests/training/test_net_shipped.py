"""The checkpoints shipped in core/weights/gld8tr-depth/ (the completer) and gld8tr-depth-mono/ (the estimator): they
load by default, the completer keeps known depth, and the cards report the numbers in their metrics.json (which the
slow test recomputes from scratch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.backends import registry
from core.depthnet import SHIPPED_DIR, SHIPPED_MONO_DIR, DepthCompletionNet

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("folder", [SHIPPED_DIR, SHIPPED_MONO_DIR], ids=["completer", "estimator"])
def test_shipped_checkpoint_is_small_and_complete(folder: Path) -> None:
    for name in ("config.json", "model.safetensors", "metrics.json", "MODEL_CARD.md"):
        assert (folder / name).is_file(), name
    assert (folder / "model.safetensors").stat().st_size < 10 * 2**20
    assert 1_000_000 <= DepthCompletionNet.from_pretrained(folder).num_parameters() <= 3_000_000


def test_default_backends_load_the_shipped_weights_and_keep_known_depth() -> None:
    completer = registry.build_depth_completer()
    estimator = registry.build_depth_estimator()
    assert completer.name == estimator.name == "gld8tr"
    # two checkpoints: the completer chooses among fills, the estimator knows where each row sits
    assert completer.model.config.mixture_priors and not completer.model.config.row_coordinate
    assert estimator.completer.model.config.row_coordinate and not estimator.completer.model.config.mixture_priors
    from skimage import data

    image = np.ascontiguousarray(data.coffee()[::4, ::4])
    mono = estimator(image)
    assert mono.shape == image.shape[:2] and np.isfinite(mono).all() and (mono > 0).all()
    known = np.zeros(mono.shape, bool)
    known[:, : mono.shape[1] // 2] = True
    out = completer(image, np.where(known, 2.0 * mono, 0).astype(np.float32), known)
    np.testing.assert_array_equal(out[known], (2.0 * mono)[known].astype(np.float32))
    assert (out[~known] > 0).all()


def test_the_first_view_of_a_run_is_the_estimators_depth() -> None:
    """The shipped completer is trained on completion only; with nothing known it hands over to the estimator, so
    the README's "the estimator predicts the first view's depth" holds for ``gld8tr run`` itself."""
    from PIL import Image

    from core.pipeline import generate_scene

    image = np.asarray(Image.open(REPO / "examples" / "coffee.jpg").convert("RGB").resize((160, 104)))
    estimator = registry.build_depth_estimator()
    completer = registry.build_depth_completer()
    mono = estimator(image)
    empty = np.zeros(image.shape[:2], bool)
    np.testing.assert_array_equal(completer(image, np.zeros(image.shape[:2], np.float32), empty), mono)
    own = completer.model  # the completer's own net with nothing known is a different (and worse) depth
    with torch.inference_mode():
        rgb = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255
        zero = torch.zeros(1, 1, *image.shape[:2])
        assert not np.allclose(own(rgb, zero, zero)[0, 0].numpy(), mono, rtol=0.05)
    scene = generate_scene(image, mode="single", device="cpu")
    first = np.asarray(scene.depths[0])
    valid = first > 0
    assert valid.mean() > 0.9
    np.testing.assert_allclose(first[valid], mono[valid], rtol=1e-5)


def test_model_card_reports_the_metrics_file() -> None:
    metrics = json.loads((SHIPPED_DIR / "metrics.json").read_text())
    card = (SHIPPED_DIR / "MODEL_CARD.md").read_text()
    for key in ("hole_absrel", "nearest_hole_absrel", "laplacian_hole_absrel", "aligned-mono_hole_absrel",
                "background_hole_mae", "colorization_hole_mae", "bilateral_hole_absrel", "plane_hole_mae",
                "plane_hole_absrel", "frame_absrel", "hole_mae", "laplacian_hole_mae"):
        assert f"{metrics[key]:.4f}" in card, key
    # The acceptance bar of the shipped model: better than every baseline on the validation holes.
    for base in ("nearest", "laplacian", "background", "colorization", "bilateral", "plane", "aligned-mono"):
        assert metrics["hole_absrel"] < metrics[f"{base}_hole_absrel"], base
        assert metrics["hole_mae"] < metrics[f"{base}_hole_mae"], base
        assert metrics["hole_delta1"] > metrics[f"{base}_hole_delta1"], base
    assert "gld8tr train --config configs/gld8tr-depth.yaml --eval core/weights/gld8tr-depth" in card


def test_monocular_card_reports_its_metrics_and_beats_a_constant_depth() -> None:
    mono = json.loads((SHIPPED_MONO_DIR / "metrics.json").read_text())
    for folder in (SHIPPED_DIR, SHIPPED_MONO_DIR):
        card = (folder / "MODEL_CARD.md").read_text()
        for key in ("frame_scaled_absrel", "frame_absrel"):
            assert f"{mono[key]:.4f}" in card, (folder.name, key)
    assert mono["frame_scaled_absrel"] < mono["constant_frame_scaled_absrel"]
    completer = json.loads((SHIPPED_DIR / "metrics.json").read_text())
    assert mono["frame_scaled_absrel"] < completer["frame_scaled_absrel"]  # why the estimator is its own checkpoint


@pytest.mark.slow
@pytest.mark.parametrize(("config", "folder"), [("configs/gld8tr-depth.yaml", SHIPPED_DIR),
                                                ("configs/gld8tr-depth-mono.yaml", SHIPPED_MONO_DIR)],
                         ids=["completer", "estimator"])
def test_model_card_numbers_are_reproduced_by_its_command(config: str, folder: Path, tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "gld8tr", "train", "--config", config, "--eval", str(folder.relative_to(REPO)),
         "--out", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads((tmp_path / "eval.json").read_text())
    want = json.loads((folder / "metrics.json").read_text())
    for key in ("hole_absrel", "hole_delta1", "hole_mae", "nearest_hole_absrel", "laplacian_hole_mae",
                "colorization_hole_mae", "plane_hole_mae", "aligned-mono_hole_absrel", "frame_absrel", "frame_delta1",
                "frame_scaled_absrel"):
        assert got[key] == pytest.approx(want[key], rel=1e-3, abs=1e-4), key
