"""Training data for the volumetric refiner: synthetic posed sequences, their fused TSDF and the exact one.

For one procedural room: a smooth camera path (:func:`training.synth.trajectory.sequence_cameras`), ray-cast frames,
depth for every frame from the project's depth network by frame-to-frame completion
(:func:`core.mesh.sequence.complete_sequence_depths`), fused into a :class:`core.mesh.tsdf.TSDFVolume`. The target
is the scene's analytic signed distance (:func:`training.synth.sdf.scene_sdf`) at the same voxel centres, so the
network learns what the true surface is, not what a denser fusion would show.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.mesh.photo import PhotoEvidence, choose_far
from core.mesh.sequence import complete_sequence_depths
from core.mesh.tsdf import TSDFVolume
from training.data.frame import Frame
from training.synth import SyntheticScene
from training.synth.sdf import scene_sdf
from training.synth.trajectory import sequence_cameras

log = logging.getLogger(__name__)

TRAIN_SEED_START = 0
BENCH_SEED_START = 1_000_000 + 700_000
"""Held-out sequences for ``gld8tr benchmark --task mesh``: validation seeds no trainer draws from."""


@dataclass
class SyntheticSequence:
    scene: SyntheticScene
    frames: list[Frame]


def synthetic_sequence(seed: int, n_frames: int, height: int, width: int) -> SyntheticSequence:
    """A room and a smooth path through it, rendered (no shadows: they do not change geometry)."""
    scene = SyntheticScene.random(seed, "indoor")
    cams = sequence_cameras(scene, n_frames, np.random.default_rng([seed, 7]), height, width)
    frames = [scene.render_camera(c, frame_id=str(i), shadows=False) for i, c in enumerate(cams)]
    return SyntheticSequence(scene, frames)


def sequence_depths(frames: list[Frame], completer) -> list[np.ndarray]:
    """Predicted depth per frame (``completer`` None: the true depth)."""
    if completer is None:
        return [f.depth for f in frames]
    return complete_sequence_depths([f.image for f in frames], [f.K for f in frames],
                                    [f.cam_to_world for f in frames], completer)


def fuse_frames(frames: list[Frame], depths: list[np.ndarray], voxel_size: float, trunc_voxels: float) -> TSDFVolume:
    vol = TSDFVolume(voxel_size, trunc_voxels)
    for f, d in zip(frames, depths, strict=True):
        vol.integrate(d, f.K, f.cam_to_world, f.image)
    return vol


def gt_tsdf(scene: SyntheticScene, origin: np.ndarray, size: int, voxel_size: float, trunc: float) -> np.ndarray:
    """Exact signed distance / trunc, clamped to [-2, 2], of a dense crop [S, S, S] starting at voxel ``origin``."""
    r = np.arange(size)
    idx = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3) + origin
    sdf = scene_sdf(torch.from_numpy(idx * voxel_size).float(), scene.prims)
    return (sdf / trunc).clamp(-2, 2).reshape(size, size, size).numpy()


def _crop_center(seq: SyntheticSequence, far: float, surface: bool, rng: np.random.Generator) -> np.ndarray:
    """A world point: on a true surface a frame sees (``surface``), else anywhere along a random pixel's ray up to
    ``far`` (free space, behind walls: the network must learn to say "no surface" there too)."""
    f = seq.frames[int(rng.integers(len(seq.frames)))]
    v, u = int(rng.integers(f.height)), int(rng.integers(f.width))
    z = float(f.depth[v, u]) if surface and f.depth[v, u] > 0 else float(rng.uniform(0.3, far))
    ray = np.array([(u + 0.5 - f.K[0, 2]) / f.K[0, 0], (v + 0.5 - f.K[1, 2]) / f.K[1, 1], 1.0])
    return f.cam_to_world[:3, :3] @ (ray * z) + f.cam_to_world[:3, 3]


def scene_crops(seed: int, cfg, completer, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Training crops of one scene: ``tsdf``, ``weight`` (fused inputs, [N, S, S, S]), ``photo`` (back-projected
    evidence, [N, 13, S, S, S]) and ``gt`` (exact, trunc units), float16. Crop centres: ``surface_fraction`` on
    true surfaces the frames see, the rest anywhere in the frames' frustums up to the refiner's depth range."""
    seq = synthetic_sequence(seed, cfg.frames, cfg.height, cfg.width)
    depths = sequence_depths(seq.frames, completer)
    vol = fuse_frames(seq.frames, depths, cfg.voxel_size, cfg.trunc_voxels)
    ev = PhotoEvidence([f.image for f in seq.frames], [f.K for f in seq.frames],
                       [f.cam_to_world for f in seq.frames], far=choose_far(depths))
    S = cfg.crop
    out = {"tsdf": [], "weight": [], "photo": [], "gt": []}
    for _ in range(cfg.crops_per_scene):
        c = _crop_center(seq, ev.far, rng.random() < cfg.surface_fraction, rng)
        origin = np.round(c / cfg.voxel_size).astype(np.int64) - S // 2 + rng.integers(-4, 5, 3)
        t, w, _ = vol.read_dense(torch.from_numpy(origin), S)
        out["tsdf"].append(t.numpy().astype(np.float16))
        out["weight"].append(w.numpy().astype(np.float16))
        out["photo"].append(ev.crop(origin, S, cfg.voxel_size).numpy().astype(np.float16))
        out["gt"].append(gt_tsdf(seq.scene, origin, S, cfg.voxel_size, vol.trunc).astype(np.float16))
    return {k: np.stack(v) for k, v in out.items()}


def cached_crops(seed: int, cfg, completer, cache_dir: Path) -> dict[str, np.ndarray]:
    """:func:`scene_crops` through an npz cache keyed by the recipe fields that change the crops."""
    from training.synth import ENGINE_VERSION

    key = (f"e{ENGINE_VERSION}_s{seed}_f{cfg.frames}_{cfg.height}x{cfg.width}_v{cfg.voxel_size}_t{cfg.trunc_voxels}"
           f"_c{cfg.crop}x{cfg.crops_per_scene}_photo{cfg.surface_fraction}"
           f"_{cfg.depth_model.replace(':', '-').replace('/', '-')}")
    path = cache_dir / f"{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    crops = scene_crops(seed, cfg, completer, np.random.default_rng([seed, 11]))
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **crops)
    tmp.replace(path)
    return crops
