"""Depth for a posed image sequence without a depth sensor: frame-to-frame completion.

The project's idea (Invisible Stitch) applied to real sequences: the first frame gets the completion network's
monocular depth; every later frame is *completed* conditioned on the depth the reconstruction already has, i.e.
the points of the earlier frames rendered into it (z-buffer splats, :func:`core.render.render_points_world_size`),
so that consecutive depths agree where they overlap and the fused volume does not smear one surface into several.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.camera import invert_pose, unproject_depth
from core.render import render_points_world_size

log = logging.getLogger(__name__)


def known_depth_from_points(
    points: torch.Tensor, sizes: torch.Tensor, K: np.ndarray, cam_to_world: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Render world points [N, 3] (splat radii ``sizes`` [N] metres) into a camera: (depth [H, W], mask [H, W])."""
    if points.shape[0] == 0:
        return np.zeros((height, width), np.float32), np.zeros((height, width), bool)
    w2c = invert_pose(torch.as_tensor(cam_to_world, dtype=torch.float32))
    r = render_points_world_size(
        points, torch.zeros(points.shape[0], 1), sizes, torch.as_tensor(K, dtype=torch.float32), w2c, height, width
    )
    return r.depth.numpy(), r.mask.numpy()


def _gray(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32).mean(-1) / 255.0)


def photometric_scale(
    depth: np.ndarray,
    image: np.ndarray,
    K: np.ndarray,
    pose: np.ndarray,
    others: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    scales: np.ndarray | None = None,
    stride: int = 2,
    pixels: np.ndarray | None = None,
) -> float:
    """The global scale of an up-to-scale ``depth`` that best explains the other views.

    Why: a monocular depth has no metric scale, but a posed sequence has one in its translations. Each candidate
    scale (a log-spaced sweep, 0.1x-10x) warps this frame's pixels into the ``others`` (``(image, K, pose)``,
    nearby frames with some baseline); the scale with the least median absolute intensity difference wins. A
    one-parameter plane sweep: cheap, robust, and exact when the depth's shape is right. ``pixels`` (bool [H, W])
    restricts the scored pixels. Returns 1.0 when no other frame sees them."""
    if scales is None:
        scales = np.exp(np.linspace(np.log(0.1), np.log(10.0), 61))
    d = torch.from_numpy(depth)[::stride, ::stride]
    g0 = _gray(image)[::stride, ::stride]
    K_t = torch.as_tensor(K, dtype=torch.float32).clone()
    K_t[:2] /= stride
    K_t[0, 2] = (float(K[0][2]) + 0.5) / stride - 0.5
    K_t[1, 2] = (float(K[1][2]) + 0.5) / stride - 0.5
    valid = d > 0
    if pixels is not None:
        valid &= torch.from_numpy(np.asarray(pixels, bool))[::stride, ::stride]
    if int(valid.sum()) < 50:
        return 1.0
    p_cam = unproject_depth(torch.where(valid, d, torch.ones_like(d)), K_t)[valid]  # [N, 3] at scale 1
    ref = g0[valid]
    pose_t = torch.as_tensor(pose, dtype=torch.float32)
    costs = np.full(len(scales), np.inf)
    for k, s in enumerate(scales):
        errs = []
        world = (p_cam * float(s)) @ pose_t[:3, :3].T + pose_t[:3, 3]
        for img_o, K_o, pose_o in others:
            w2c = invert_pose(torch.as_tensor(pose_o, dtype=torch.float32))
            pc = world @ w2c[:3, :3].T + w2c[:3, 3]
            z = pc[:, 2]
            Ko = torch.as_tensor(K_o, dtype=torch.float32)
            u = Ko[0, 0] * pc[:, 0] / z.clamp_min(1e-6) + Ko[0, 2]
            v = Ko[1, 1] * pc[:, 1] / z.clamp_min(1e-6) + Ko[1, 2]
            H, W = img_o.shape[:2]
            ok = (z > 0.05) & (u >= 0) & (u <= W - 1) & (v >= 0) & (v <= H - 1)
            if int(ok.sum()) < 50:
                continue
            go = _gray(img_o)
            grid = torch.stack([u[ok] / (W - 1) * 2 - 1, v[ok] / (H - 1) * 2 - 1], -1)[None, None]
            sampled = torch.nn.functional.grid_sample(go[None, None], grid, align_corners=True)[0, 0, 0]
            errs.append((sampled - ref[ok]).abs())
        if errs:
            e = torch.cat(errs)
            # Pixels that leave every other view count as a constant penalty, so tiny scales (all points behind
            # or beside the cameras) cannot win by being unverifiable.
            n_total = ref.numel() * len(others)
            costs[k] = float((e.sum() + 0.25 * (n_total - e.numel())) / n_total)
    if not np.isfinite(costs).any():
        return 1.0
    return float(scales[int(np.argmin(costs))])


def complete_sequence_depths(
    images: Sequence[np.ndarray],
    Ks: Sequence[np.ndarray],
    poses: Sequence[np.ndarray],
    completer: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    *,
    stride: int = 2,
    max_depth: float = 20.0,
    min_new_fraction: float = 0.05,
    n_scale_views: int = 4,
    on_frame: Callable[[int, int], None] | None = None,
) -> list[np.ndarray]:
    """Depth [H, W] float32 per frame. ``completer(image, depth, known_mask) -> depth`` is a
    :class:`core.backends.base.DepthCompleter`; earlier frames' points (every ``stride``-th pixel) condition it."""
    pts_all: list[torch.Tensor] = []
    size_all: list[torch.Tensor] = []
    out: list[np.ndarray] = []
    for i, (image, K, pose) in enumerate(zip(images, Ks, poses, strict=True)):
        H, W = image.shape[:2]
        pts = torch.cat(pts_all) if pts_all else torch.zeros(0, 3)
        sizes = torch.cat(size_all) if size_all else torch.zeros(0)
        known, mask = known_depth_from_points(pts, sizes, K, pose, H, W)
        depth = completer(image, known, mask).astype(np.float32)
        if (~mask).mean() > min_new_fraction:
            # The network's new depth has no reliable metric scale: take it from the poses (photometric sweep
            # over the new pixels against the nearest other frames).
            near = [j for j in np.argsort([np.linalg.norm(np.asarray(p)[:3, 3] - np.asarray(pose)[:3, 3])
                                          for p in poses]) if j != i][:n_scale_views]
            scale = photometric_scale(
                depth, image, K, pose, [(images[j], Ks[j], poses[j]) for j in near], pixels=~mask
            )
            depth = np.where(mask, depth, depth * scale).astype(np.float32)
            log.debug("frame %d: %.1f%% known, photometric scale %.3f", i, 100 * mask.mean(), scale)
        depth = np.where(np.isfinite(depth) & (depth > 0) & (depth <= max_depth), depth, 0).astype(np.float32)
        out.append(depth)
        d = torch.from_numpy(depth)
        p = unproject_depth(d, torch.as_tensor(K, dtype=torch.float32), torch.as_tensor(pose, dtype=torch.float32))
        sub = (slice(None, None, stride), slice(None, None, stride))
        valid = d[sub] > 0
        pts_all.append(p[sub][valid])
        # A point stands for a stride x stride patch: radius ~ stride * 0.75 pixel at its depth.
        size_all.append(d[sub][valid] * (0.75 * stride / float(K[0][0])))
        if on_frame is not None:
            on_frame(i + 1, len(images))
    return out
