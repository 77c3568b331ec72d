"""The shipped splatter checkpoint: it loads, is the ray-aligned model its card describes, and with the colour
solve reproduces a real photo it never saw far better than its network colours alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.camera import Camera, Intrinsics
from core.gaussians.fit import evaluate
from core.splatter import SHIPPED_DIR, SplatterNet
from core.splatter.color_solve import solve_colors
from core.splatter.feedforward import predict_view

PHOTO = Path(__file__).resolve().parents[2] / "examples" / "astronaut.jpg"


def test_shipped_checkpoint_is_the_ray_aligned_model_of_its_card():
    model = SplatterNet.from_pretrained(SHIPPED_DIR)
    assert model.config.ray_aligned and model.config.depth_input
    assert model.num_parameters() == 267_943
    metrics = json.loads((SHIPPED_DIR / "metrics.json").read_text())
    card = (SHIPPED_DIR / "MODEL_CARD.md").read_text()
    assert f"{metrics['val_psnr_novel']:.2f}" in card and "configs/splatter-product.yaml" in card


def test_shipped_checkpoint_with_the_solve_reproduces_a_photo():
    image = np.asarray(Image.open(PHOTO).convert("RGB").resize((80, 60), Image.Resampling.BOX))
    u = np.arange(80, dtype=np.float32)
    depth = np.broadcast_to(2.0 + 0.02 * u, (60, 80)).astype(np.float32)  # a slanted wall
    cam = Camera(Intrinsics.from_fov(80, 60, 55.0), torch.eye(4))
    model = SplatterNet.from_pretrained(SHIPPED_DIR)
    g = predict_view(model, image, cam, depth)
    target = torch.from_numpy(image.astype(np.float32) / 255.0)
    plain = evaluate(g, [cam], [target])[0]
    solved = evaluate(solve_colors(g, [cam], [target]), [cam], [target])[0]
    assert solved > 31.0 and solved > plain + 5.0, (plain, solved)  # measured: 26.7 -> 33.8 dB
