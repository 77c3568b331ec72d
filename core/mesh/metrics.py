"""3D mesh metrics of the Atlas / TransformerFusion / IOAR protocol, and depth rendering of a mesh into frames.

Points are sampled on both meshes (area-weighted), voxel-downsampled at 2 cm, and matched both ways with a k-d
tree: accuracy = mean distance prediction -> ground truth, completeness = mean distance ground truth ->
prediction, chamfer = their mean, precision / recall = the fraction of those distances under 5 cm, F-score their
harmonic mean. To score only what a sequence could see, sample both meshes *as seen from its frames*
(:func:`visible_points`: each mesh rendered into every frame and the rendered depth lifted back), which is
what Atlas does by re-fusing rendered depth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.mesh.tsdf import MeshData

F_THRESHOLD = 0.05
DOWNSAMPLE = 0.02


def sample_surface(mesh: MeshData, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points [n, 3] uniformly on the surface (area-weighted faces, uniform barycentrics)."""
    if mesh.is_empty:
        return np.zeros((0, 3), np.float32)
    tri = mesh.vertices[mesh.faces].astype(np.float64)  # [F, 3, 3]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if area.sum() <= 0:
        return np.zeros((0, 3), np.float32)
    rng = np.random.default_rng(seed)
    face = rng.choice(len(area), size=n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    a, b, c = 1 - s, s * (1 - r2), s * r2
    t = tri[face]
    return (a[:, None] * t[:, 0] + b[:, None] * t[:, 1] + c[:, None] * t[:, 2]).astype(np.float32)


def voxel_downsample(points: np.ndarray, voxel: float = DOWNSAMPLE) -> np.ndarray:
    """One point (the first) per occupied ``voxel`` cell: evens out sampling density before matching."""
    if len(points) == 0:
        return points
    _, first = np.unique(np.floor(points / voxel).astype(np.int64), axis=0, return_index=True)
    return points[np.sort(first)]


def point_metrics(pred: np.ndarray, gt: np.ndarray, threshold: float = F_THRESHOLD) -> dict[str, float]:
    """Acc, Comp, Chamfer (metres), Prec, Recall, F (fractions) between point sets [N, 3] and [M, 3]."""
    from scipy.spatial import cKDTree

    if len(pred) == 0 or len(gt) == 0:
        inf = float("inf")
        return {"acc": inf, "comp": inf, "chamfer": inf, "prec": 0.0, "recall": 0.0, "fscore": 0.0,
                "n_pred": len(pred), "n_gt": len(gt)}
    d_pred = cKDTree(gt).query(pred, workers=1)[0]
    d_gt = cKDTree(pred).query(gt, workers=1)[0]
    prec = float((d_pred < threshold).mean())
    rec = float((d_gt < threshold).mean())
    f = 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)
    acc, comp = float(d_pred.mean()), float(d_gt.mean())
    return {"acc": acc, "comp": comp, "chamfer": (acc + comp) / 2, "prec": prec, "recall": rec, "fscore": f,
            "n_pred": int(len(pred)), "n_gt": int(len(gt))}


def mesh_metrics(pred: MeshData, gt: MeshData, *, n_points: int = 200_000, voxel: float = DOWNSAMPLE,
                 threshold: float = F_THRESHOLD) -> dict[str, float]:
    """:func:`point_metrics` of ``n_points`` samples per mesh, downsampled at ``voxel``."""
    return point_metrics(voxel_downsample(sample_surface(pred, n_points, 0), voxel),
                         voxel_downsample(sample_surface(gt, n_points, 1), voxel), threshold)


# ---------------------------------------------------------------------- rendering


def render_depth(mesh: MeshData, Ks: Sequence[np.ndarray], poses: Sequence[np.ndarray],
                 height: int, width: int) -> list[np.ndarray]:
    """Z-depth [H, W] float32 (0 = no surface) of ``mesh`` in each camera (K [3, 3], camera-to-world [4, 4]),
    ray cast with Open3D's ``RaycastingScene`` (Embree BVH): exact nearest hit, back faces included."""
    import open3d as o3d

    out = []
    if mesh.is_empty:
        return [np.zeros((height, width), np.float32) for _ in Ks]
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)),
                        o3d.core.Tensor(mesh.faces.astype(np.uint32)))
    v, u = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij")
    for K, pose in zip(Ks, poses, strict=True):
        K = np.asarray(K, np.float64)
        pose = np.asarray(pose, np.float64)
        # Directions with unit camera z: the hit parameter t is the z-depth directly.
        d_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1).reshape(-1, 3)
        d_world = d_cam @ pose[:3, :3].T
        rays = np.concatenate([np.broadcast_to(pose[:3, 3], d_world.shape), d_world], 1).astype(np.float32)
        t = scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy().reshape(height, width)
        out.append(np.where(np.isfinite(t), t, 0).astype(np.float32))
    return out


def lift_depths(depths: Sequence[np.ndarray], Ks: Sequence[np.ndarray], poses: Sequence[np.ndarray],
                stride: int = 1) -> np.ndarray:
    """World points [N, 3] of every valid pixel (every ``stride``-th) of z-depth maps."""
    pts = []
    for d, K, pose in zip(depths, Ks, poses, strict=True):
        d = np.asarray(d, np.float32)[::stride, ::stride]
        v, u = np.nonzero(d > 0)
        z = d[v, u]
        K = np.asarray(K, np.float64)
        x = ((u * stride) - K[0, 2]) / K[0, 0] * z
        y = ((v * stride) - K[1, 2]) / K[1, 1] * z
        p = np.stack([x, y, z], -1) @ np.asarray(pose)[:3, :3].T + np.asarray(pose)[:3, 3]
        pts.append(p.astype(np.float32))
    return np.concatenate(pts) if pts else np.zeros((0, 3), np.float32)


def visible_points(mesh: MeshData, Ks: Sequence[np.ndarray], poses: Sequence[np.ndarray], height: int, width: int,
                   voxel: float = DOWNSAMPLE) -> np.ndarray:
    """The part of ``mesh`` the cameras see, as points downsampled at ``voxel``."""
    return voxel_downsample(lift_depths(render_depth(mesh, Ks, poses, height, width), Ks, poses), voxel)
