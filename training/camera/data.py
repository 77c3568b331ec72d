"""Frames for the camera module: synthetic depth maps with exact focal lengths, rendered once into an ``.npz``
cache, and the batches of distorted clouds drawn from them.

Sampling is a pure function of ``(seed, step)`` so a resumed run sees exactly the batches an uninterrupted one
would have. Any :class:`training.data.frame.Frame` reader (Ken Burns, Taskonomy, ScanNet, ...) can feed
:meth:`DepthCache.from_frames` too: the module needs only depth and the focal length.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.camera_recovery.geometry import DistortedCloud, distort, normalised_grid, sample_valid

log = logging.getLogger(__name__)

CACHE_VERSION = 1
MIN_VALID_FRACTION = 0.2


@dataclass
class DepthCache:
    """``depths`` [N, H, W] float32 (0 invalid) and ``focal_n`` [N] (focal / half width) of N frames."""

    depths: np.ndarray
    focal_n: np.ndarray

    def __len__(self) -> int:
        return len(self.depths)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, depths=self.depths, focal_n=self.focal_n)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> DepthCache:
        with np.load(path) as data:
            return cls(depths=data["depths"], focal_n=data["focal_n"])

    @classmethod
    def from_frames(cls, frames: Iterable) -> DepthCache:
        """Frames with square pixels and a centred principal point (others would need a different cloud model);
        frames with less than ``MIN_VALID_FRACTION`` valid depth are skipped."""
        depths, focals = [], []
        for f in frames:
            if (f.depth > 0).mean() < MIN_VALID_FRACTION:
                continue
            depths.append(np.asarray(f.depth, np.float32))
            focals.append(float(f.K[0, 0]) / (f.width / 2))
        if not depths:
            raise ValueError("no usable frames")
        return cls(np.stack(depths), np.asarray(focals, np.float32))


def synthetic_depth_cache(section, split: str, cache_dir: Path) -> DepthCache:
    """Render (or reuse) the synthetic frames of ``split`` for a ``CameraDataSection``."""
    from tqdm import tqdm

    from training.synth import ENGINE_VERSION, SyntheticReader

    n = section.train_scenes if split == "train" else section.val_scenes
    recipe = {"version": CACHE_VERSION, "engine": ENGINE_VERSION, "split": split, "scenes": n,
              "frames": section.frames_per_scene, "size": [section.height, section.width],
              "fov": list(section.fov_range_deg), "seed": section.seed}
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir / f"camera-{split}-{key}.npz"
    if path.is_file():
        log.info("depth cache %s: reusing %s", split, path)
        return DepthCache.load(path)
    reader = SyntheticReader(n, section.frames_per_scene, section.height, section.width, seed=section.seed,
                             split=split, shadows=False, fov_range_deg=tuple(section.fov_range_deg))

    def frames():
        for sid in tqdm(reader.scene_ids(), desc=f"render {split} depth", unit="scene"):
            yield from reader.frames(sid)

    cache = DepthCache.from_frames(frames())
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache.save(path)
    (cache_dir / f"camera-{split}-{key}.json").write_text(json.dumps(recipe, indent=2) + "\n")
    log.info("depth cache %s: %d frames -> %s", split, len(cache), path)
    return cache


def fit_frame(frame, height: int, width: int):
    """Centre-crop ``frame`` to the aspect of ``width`` x ``height``, then resize (square pixels stay square)."""
    from dataclasses import replace

    H, W = frame.height, frame.width
    if W * height > H * width:  # too wide: crop columns
        w = round(H * width / height)
        x0, y0, h = (W - w) // 2, 0, H
    else:
        h = round(W * height / width)
        x0, y0, w = 0, (H - h) // 2, W
    K = frame.K.astype(np.float64).copy()
    K[0, 2] -= x0
    K[1, 2] -= y0
    cropped = replace(frame, image=frame.image[y0:y0 + h, x0:x0 + w], depth=frame.depth[y0:y0 + h, x0:x0 + w],
                      K=K.astype(np.float32), normals=None)
    return cropped.resized(height, width)


def real_depth_cache(sources, height: int, width: int) -> DepthCache | None:
    """Frames of real datasets named in the recipe (``data.real``), cropped and resized to the training size."""
    from itertools import islice

    from training.data.kenburns import KenBurnsReader
    from training.data.scannet import ScanNetReader
    from training.data.taskonomy import TaskonomyReader

    kinds = {"kenburns": KenBurnsReader, "taskonomy": TaskonomyReader, "scannet": ScanNetReader}
    caches = []
    for src in sources:
        reader = kinds[src.kind](src.root)
        frames = (fit_frame(f, height, width) for sid in reader.scene_ids() for f in reader.frames(sid))
        cache = DepthCache.from_frames(islice(frames, src.max_frames))
        log.info("real frames: %d from %s %s", len(cache), src.kind, src.root)
        caches.append(cache)
    if not caches:
        return None
    return DepthCache(np.concatenate([c.depths for c in caches]), np.concatenate([c.focal_n for c in caches]))


def distorted_batch(
    cache: DepthCache, rows: np.ndarray, gen: torch.Generator, dist, num_points: int
) -> tuple[DistortedCloud, torch.Tensor]:
    """Distort frames ``rows`` of the cache: points drawn with ``gen``; returns the cloud and the true focal [B]."""
    H, W = cache.depths.shape[1:]
    uv_all = normalised_grid(H, W).reshape(-1, 2)
    depths, uvs, valids = [], [], []
    for r in rows:
        d = torch.from_numpy(cache.depths[r]).reshape(-1)
        idx = sample_valid(d > 0, num_points, gen)
        depths.append(d[idx])
        uvs.append(uv_all[idx])
        valids.append(torch.ones(num_points, dtype=torch.bool))
    B = len(rows)
    depth, uv, valid = torch.stack(depths), torch.stack(uvs), torch.stack(valids)
    u = torch.rand(B, 4, generator=gen)
    noisy = u[:, 3] < 0.5
    if dist.depth_noise > 0:
        noise = 1 + dist.depth_noise * torch.randn(depth.shape, generator=gen)
        depth = torch.where(noisy[:, None], depth * noise.clamp_min(0.5), depth)
    lo, hi = dist.shift_range
    shift = torch.where(u[:, 0] < dist.p_no_shift, torch.zeros(B), lo + (hi - lo) * u[:, 1])
    a_lo, a_hi = (math.log(v) for v in dist.focal_scale_range)
    scale = torch.exp(a_lo + (a_hi - a_lo) * u[:, 2])
    focal = torch.from_numpy(cache.focal_n[rows]).float()
    return distort(depth, uv, valid, focal, shift, scale), focal
