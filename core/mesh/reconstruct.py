"""Posed views to a coloured triangle mesh: the one function behind ``gld8tr reconstruct`` and ``gld8tr run
--mesh``.

Steps: 1. depth per view (given, or frame-to-frame completion by a depth model); 2. voxel size from the scene's
extent unless given; 3. TSDF fusion (:class:`core.mesh.tsdf.TSDFVolume`, or Open3D's voxel-block grid); 4. the
learned refiner over the fused volume, when one is given; 5. marching cubes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from core.errors import InputError
from core.mesh.tsdf import MeshData, TSDFVolume, choose_voxel_size

log = logging.getLogger(__name__)

FusionBackend = Literal["torch", "open3d"]


@dataclass
class MeshResult:
    mesh: MeshData
    voxel_size: float
    depths: list[np.ndarray]
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)


def check_views(images: Sequence[np.ndarray], Ks: Sequence[np.ndarray], poses: Sequence[np.ndarray],
                depths: Sequence[np.ndarray] | None = None) -> None:
    """Equal counts, finite rigid poses, depth shapes matching their images; :class:`InputError` otherwise."""
    if not len(images):
        raise InputError("no views to reconstruct")
    if len(Ks) != len(images) or len(poses) != len(images) or (depths is not None and len(depths) != len(images)):
        raise InputError(f"mismatched view counts: {len(images)} images, {len(Ks)} intrinsics, {len(poses)} poses"
                         + ("" if depths is None else f", {len(depths)} depths"))
    for i, pose in enumerate(poses):
        pose = np.asarray(pose, np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise InputError(f"view {i}: pose must be a finite 4x4 camera-to-world matrix")
        if depths is not None and np.asarray(depths[i]).shape != np.asarray(images[i]).shape[:2]:
            raise InputError(f"view {i}: depth {np.asarray(depths[i]).shape} does not match its image")


def scene_extent(depths: Sequence[np.ndarray], Ks: Sequence[np.ndarray], poses: Sequence[np.ndarray]) -> float:
    """Largest side (metres) of the box holding the 2nd-98th percentile of the lifted depth (every 8th pixel)."""
    from core.mesh.metrics import lift_depths

    pts = lift_depths(depths, Ks, poses, stride=8)
    if len(pts) < 10:
        return 1.0
    lo, hi = np.percentile(pts, 2, axis=0), np.percentile(pts, 98, axis=0)
    return float(max((hi - lo).max(), 0.1))


def make_volume(voxel_size: float, trunc_voxels: float = 3.0, backend: FusionBackend = "torch",
                device: str = "cpu"):
    if backend == "open3d":
        from core.mesh.open3d_fusion import Open3DVolume

        return Open3DVolume(voxel_size, trunc_voxels)
    if backend != "torch":
        raise InputError(f"fusion backend must be torch or open3d, got {backend!r}")
    return TSDFVolume(voxel_size, trunc_voxels, device=device)


def reconstruct_mesh(
    images: Sequence[np.ndarray],
    Ks: Sequence[np.ndarray],
    poses: Sequence[np.ndarray],
    depths: Sequence[np.ndarray] | None = None,
    *,
    completer: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
    voxel_size: float | None = None,
    trunc_voxels: float = 3.0,
    max_depth: float = 10.0,
    refiner=None,
    backend: FusionBackend = "torch",
    device: str = "cpu",
    on_progress: Callable[[str, int, int], None] | None = None,
) -> MeshResult:
    """Mesh of posed views: images uint8 [H, W, 3], K [3, 3], camera-to-world [4, 4]; ``depths`` [H, W] metres
    (z, 0 = unknown) or None with a ``completer`` (:class:`core.backends.base.DepthCompleter`). ``refiner``: a
    :class:`core.mesh.refine.VolumeRefineNet` (torch backend only; the voxel size is then the one it was trained
    at unless given)."""
    # 1. Check inputs and get depth.
    check_views(images, Ks, poses, depths)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if depths is None:
        if completer is None:
            raise InputError("no depth given and no depth model to predict it")
        from core.mesh.sequence import complete_sequence_depths

        depths = complete_sequence_depths(images, Ks, poses, completer,
                                          on_frame=(lambda d, n: on_progress("depth", d, n)) if on_progress else None)
        timings["depth_s"] = time.perf_counter() - t0
    # 2. Voxel size.
    if voxel_size is None:
        voxel_size = refiner.config.voxel_size if refiner is not None else choose_voxel_size(
            scene_extent(depths, Ks, poses))
    if refiner is not None and backend != "torch":
        raise InputError("the learned refiner needs the torch fusion backend")
    # 3. Fuse.
    t1 = time.perf_counter()
    vol = make_volume(voxel_size, trunc_voxels, backend, device)
    for i, (img, K, pose, d) in enumerate(zip(images, Ks, poses, depths, strict=True)):
        vol.integrate(d, K, pose, img, max_depth=max_depth)
        if on_progress:
            on_progress("fuse", i + 1, len(images))
    timings["fuse_s"] = time.perf_counter() - t1
    stats = {"blocks": float(vol.num_blocks), "volume_mb": vol.nbytes() / 2**20}
    # 4. Refine.
    if refiner is not None:
        from core.mesh.photo import PhotoEvidence, choose_far
        from core.mesh.refine import refine_volume

        t2 = time.perf_counter()
        # The evidence of at most 40 evenly spread frames: it holds every frame's features in memory, and the
        # network was trained on 20-frame sequences (a long scan's 1000s of frames add little but cost).
        pick = np.unique(np.linspace(0, len(images) - 1, min(len(images), 40)).round().astype(int))
        evidence = PhotoEvidence([images[i] for i in pick], [Ks[i] for i in pick], [poses[i] for i in pick],
                                 far=min(choose_far(depths), max_depth), device=device)
        with torch.no_grad():
            vol = refine_volume(vol, refiner, evidence)
        timings["refine_s"] = time.perf_counter() - t2
    # 5. Mesh.
    t3 = time.perf_counter()
    mesh = vol.extract_mesh()
    timings["mesh_s"] = time.perf_counter() - t3
    stats.update({"vertices": float(len(mesh.vertices)), "faces": float(len(mesh.faces))})
    return MeshResult(mesh, float(voxel_size), list(depths), timings, stats)


def scene_mesh(scene, *, voxel_size: float | None = None, backend: FusionBackend = "torch",
               device: str = "cpu") -> MeshResult:
    """The coloured mesh of a generated :class:`core.pipeline.Scene`: its views' completed depths fused.

    Why the depths and not the point cloud: each view's depth is a complete surface from a known camera, which is
    exactly what TSDF fusion wants (free space in front of it is carved, overlaps are averaged)."""
    images = scene.views
    Ks = [c.intrinsics.matrix().numpy() for c in scene.cameras]
    poses = [c.cam_to_world.numpy() for c in scene.cameras]
    # Generated scenes can reach far (streets, skies at the depth cap): clip to the bulk of the scene.
    far = float(np.percentile(np.concatenate([d[d > 0] for d in scene.depths]), 98)) if scene.depths else 10.0
    return reconstruct_mesh(images, Ks, poses, scene.depths, voxel_size=voxel_size, max_depth=far * 1.05,
                            backend=backend, device=device)
