"""Feed-forward Gaussians for a generated scene: one SplatterNet pass per view, merged into one set of splats.

Every view of the scene comes with its camera and its (completed) depth, so the depth channel of the network is
always fed in the product. Views are merged as the point cloud is: the input view contributes every pixel, each
later view only its new (inpainted) pixels (``scene.masks``), so surfaces seen twice are not splatted twice.
Gaussians too faint to ever pass the rasteriser's alpha threshold are dropped. Last, the splats' colours are solved
in closed form against the input photo (``core.splatter.color_solve``), which undoes the blur of the render.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from core.camera import Camera
from core.errors import InputError
from core.gaussians.model import Gaussians
from core.splatter.model import SplatterNet

log = logging.getLogger(__name__)

DEFAULT_CPU_MAX_SIDE = 512
"""Working resolution (longest side) on the CPU: the product's own 512-px scenes run at full size."""
OPACITY_MIN = 1.0 / 255.0


class ViewsLike(Protocol):
    cameras: list[Camera]
    views: list[np.ndarray]
    depths: list[np.ndarray]
    masks: list[np.ndarray]


@dataclass
class FeedForwardResult:
    gaussians: Gaussians  # detached, on the CPU, world (input camera) frame
    seconds: float  # network passes + merging (excludes loading the model)
    per_view: list[int]  # Gaussians kept from each view
    resolution: tuple[int, int]  # working (width, height) of view 0
    device: str
    color_solve_iters: int  # conjugate-gradient steps of the closed-form colour solve (0: the network's colours)

    def summary(self) -> dict[str, object]:
        return {"num_gaussians": len(self.gaussians), "seconds": round(self.seconds, 3), "per_view": self.per_view,
                "resolution": list(self.resolution), "device": self.device, "method": "feedforward",
                "color_solve_iters": self.color_solve_iters}


@functools.lru_cache(maxsize=4)
def load_model(checkpoint: str | None = None, device: str = "cpu") -> SplatterNet:
    """The shipped checkpoint (``core/weights/gld8tr-splatter``) or ``checkpoint``; loaded once per process."""
    from core.splatter import SHIPPED_DIR

    return SplatterNet.from_pretrained(Path(checkpoint) if checkpoint else SHIPPED_DIR, device=device)


def _resize(image: np.ndarray, depth: np.ndarray, mask: np.ndarray, cam: Camera, max_side: int | None):
    """Image / depth / mask / camera at the working resolution (box-filtered colour, nearest depth and mask)."""
    from PIL import Image

    intr = cam.intrinsics
    factor = 1.0 if not max_side else min(1.0, max_side / max(intr.width, intr.height))
    if factor >= 1.0:
        return image, depth, mask, cam
    intr = intr.scaled(factor)
    size = (intr.width, intr.height)
    image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))
    depth = np.asarray(Image.fromarray(depth.astype(np.float32)).resize(size, Image.Resampling.NEAREST))
    mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)) > 127
    return image, depth, mask, Camera(intr, cam.cam_to_world)


def check_view(image: np.ndarray, depth: np.ndarray | None, cam: Camera) -> None:
    """Clear errors for a view the network cannot take."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"feed-forward Gaussians need RGB views [H, W, 3], got shape {image.shape}")
    intr = cam.intrinsics
    if image.shape[:2] != (intr.height, intr.width):
        raise InputError(f"view of shape {image.shape[:2]} does not match its camera {intr.height}x{intr.width}")
    if depth is not None and depth.shape != image.shape[:2]:
        raise InputError(f"depth of shape {depth.shape} does not match its view {image.shape[:2]}")


@torch.inference_mode()
def predict_view(
    model: SplatterNet, image: np.ndarray, camera: Camera, depth: np.ndarray | None = None,
    keep: np.ndarray | None = None,
) -> Gaussians:
    """One view's per-pixel Gaussians in the world frame; ``keep`` [H, W] bool selects pixels (default all)."""
    check_view(image, depth, camera)
    dev = next(model.parameters()).device
    rgb = torch.from_numpy(np.array(image, dtype=np.uint8)).to(dev).permute(2, 0, 1)[None].float() / 255.0
    K = camera.intrinsics.matrix(device=dev)[None]
    d = None if depth is None else torch.from_numpy(np.array(depth, np.float32)).to(dev)[None, None]
    maps = model(rgb, K, d)
    sel = maps["opacity_logits"][0] > float(np.log(OPACITY_MIN / (1 - OPACITY_MIN)))
    if keep is not None:
        sel &= torch.from_numpy(np.asarray(keep, bool)).to(dev)
    return SplatterNet.gaussians(maps, 0, camera.cam_to_world.to(dev), keep=sel).map(lambda t: t.float().cpu())


def feedforward_gaussians(
    scene: ViewsLike, *, model: SplatterNet | None = None, checkpoint: str | None = None, device: str = "auto",
    max_side: int | None = -1, views: Sequence[int] | None = None, solve_iters: int | None = None,
) -> FeedForwardResult:
    """Splats for ``scene`` (see the module docstring). ``max_side``: working resolution, -1 = full on CUDA and
    ``DEFAULT_CPU_MAX_SIDE`` on the CPU, None = full. ``solve_iters``: steps of the closed-form colour solve of
    all splats against the input photo (view 0) at the working resolution (``core.splatter.color_solve``; None =
    its default, 0 = the network's colours). Only the photo is an observation: a later view's new pixels are the
    inpainter's guesses, which the splats made from them already carry, and solving against them too would cost a
    projection of every splat into every view."""
    from core.splatter.color_solve import DEFAULT_ITERS, solve_colors

    solve_iters = DEFAULT_ITERS if solve_iters is None else solve_iters
    if solve_iters < 0:
        raise InputError(f"colour-solve steps must be >= 0, got {solve_iters}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(checkpoint, device) if model is None else model.to(device).eval()
    if not scene.views or len(scene.views) != len(scene.cameras):
        raise InputError(f"scene needs one camera per view, got {len(scene.cameras)} cameras, {len(scene.views)} "
                         "views")
    depths = list(scene.depths) if getattr(scene, "depths", None) else [None] * len(scene.views)
    masks = list(scene.masks) if getattr(scene, "masks", None) else [None] * len(scene.views)
    if max_side == -1:
        max_side = None if device.startswith("cuda") else DEFAULT_CPU_MAX_SIDE
    t0 = time.perf_counter()
    parts, per_view, resolution = [], [], (0, 0)
    photo: tuple[Camera, torch.Tensor] | None = None
    for i in views if views is not None else range(len(scene.views)):
        image, cam = np.asarray(scene.views[i]), scene.cameras[i]
        depth = None if depths[i] is None else np.asarray(depths[i], np.float32)
        check_view(image, depth, cam)
        mask = np.ones(image.shape[:2], bool) if i == 0 or masks[i] is None else np.asarray(masks[i], bool)
        image, depth_r, mask, cam = _resize(image, np.zeros(image.shape[:2], np.float32) if depth is None else depth,
                                            mask, cam, max_side)
        if i == 0:
            resolution = (cam.intrinsics.width, cam.intrinsics.height)
        g = predict_view(model, image, cam, None if depth is None else depth_r, keep=mask)
        parts.append(g)
        per_view.append(len(g))
        if i == 0:
            photo = cam, torch.from_numpy(np.array(image, dtype=np.float32) / 255.0)
    gaussians = Gaussians.concat(parts)
    if solve_iters and photo is not None:
        dev = torch.device(device)
        gaussians = solve_colors(gaussians.to(dev), [photo[0]], [photo[1].to(dev)], iters=solve_iters)
        gaussians = gaussians.to(torch.device("cpu"))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    log.info("feed-forward Gaussians: %d from %d views at %dx%d (colour solve: %d steps) in %.2f s on %s",
             len(gaussians), len(parts), *resolution, solve_iters, seconds, device)
    return FeedForwardResult(gaussians, seconds, per_view, resolution, device, solve_iters)
