"""Gaussians from a coloured point cloud: one Gaussian per point, sized to the pixel it came from.

Why the pixel footprint: every point of a generated scene was lifted from one pixel, so at depth z a camera of
focal f spread it over ``z / f`` metres. A Gaussian of about that width closes the surface without blurring it,
which gives a render close to the photo before any fitting. Flattening it along the surface normal keeps the
surface thin when a later camera looks at it obliquely. (The original Invisible Stitch used isotropic scales from
the three nearest neighbours; the footprint is cheaper and needs no neighbour search.)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import torch

from core.camera import Camera
from core.gaussians.model import Gaussians, num_sh_bases, rgb_to_sh_dc, rotmat_to_quat

log = logging.getLogger(__name__)

INIT_OPACITY = 0.9
FOOTPRINT_SIGMA = 0.4
"""Gaussian standard deviation in pixels. The renderer's 0.3 px^2 low-pass makes neighbours overlap; wider
blurs the photo (measured on the Middlebury motorcycle at 128 px: 0.4 -> 23.0 dB before fitting, 0.6 -> 20.4)."""
FLATNESS = 0.1
"""Normal-direction scale relative to the in-surface scale."""
DEPTH_STEP = 0.1
"""Relative depth range merged into one Gaussian per working pixel (``merge_to_pixel_cells``)."""
MIN_COS = 0.25
"""Foreshortening is capped at 4x so grazing surfaces do not grow enormous Gaussians."""


def best_view(points: torch.Tensor, cameras: Sequence[Camera]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(size [N], camera [N], uv [N, 2])``: for each point the camera that frames it at the finest resolution,
    the world size ``z / f`` of one of its pixels there, and the point's pixel coordinates in it.

    Points no camera frames (possible after an inpainted view's depth was completed) fall back to the first
    camera, with their distance from it in place of ``z``.
    """
    best = torch.full((points.shape[0],), math.inf, dtype=points.dtype, device=points.device)
    index = torch.zeros(points.shape[0], dtype=torch.long, device=points.device)
    uv = torch.zeros(points.shape[0], 2, dtype=points.dtype, device=points.device)
    for k, cam in enumerate(cameras):
        intr = cam.intrinsics
        w2c = cam.world_to_cam().to(points)
        pc = points @ w2c[:3, :3].T + w2c[:3, 3]
        z = pc[:, 2]
        zs = z.clamp_min(1e-8)
        u = intr.fx * pc[:, 0] / zs + intr.cx
        v = intr.fy * pc[:, 1] / zs + intr.cy
        seen = (z > 0) & (u > -0.5) & (u < intr.width - 0.5) & (v > -0.5) & (v < intr.height - 0.5)
        size = z / intr.fx
        better = seen & (size < best)
        best = torch.where(better, size, best)
        index = torch.where(better, torch.full_like(index, k), index)
        uv = torch.where(better[:, None], torch.stack([u, v], dim=-1), uv)
    cam0 = cameras[0]
    centre = cam0.cam_to_world[:3, 3].to(points)
    fallback = (points - centre).norm(dim=-1) / cam0.intrinsics.fx
    return torch.where(torch.isfinite(best), best, fallback), index, uv


def pixel_footprint(points: torch.Tensor, cameras: Sequence[Camera]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(size [N], camera [N])`` of ``best_view``: the world size of a pixel at each point, and which camera."""
    size, index, _ = best_view(points, cameras)
    return size, index


def footprint_covariance(
    points: torch.Tensor,
    normals: torch.Tensor,
    cameras: Sequence[Camera],
    *,
    sigma_px: float = FOOTPRINT_SIGMA,
    flatness: float = FLATNESS,
    widen: float | torch.Tensor = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rotations [N, 3, 3], log_scales [N, 3])`` of a ``sigma_px``-pixel round blob of the camera that saw each
    point best, mapped onto the surface (plane through the point with the given normal), plus a thin
    ``flatness`` part along the normal.

    A pixel step (du, dv) moves the surface point by ``(z / f) (e - (n.e / n.d) d)`` with e the camera's x or y
    axis and d the ray (z-normalised), so the blob's covariance is ``sigma^2 (a_u a_u^T + a_v a_v^T)``: exactly
    the footprint on a fronto-parallel surface, stretched along the tilt of a slanted one (capped at
    ``1 / MIN_COS``). The third local axis (smallest scale) is the normal.
    """
    size, index = pixel_footprint(points, cameras)
    n = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    poses = torch.stack([c.cam_to_world.to(points) for c in cameras])[index]  # [N, 4, 4]
    focal = torch.tensor([[c.intrinsics.fx, c.intrinsics.fy] for c in cameras], dtype=points.dtype)[index]
    R, origin = poses[:, :3, :3], poses[:, :3, 3]
    ray = points - origin
    d = ray / (ray * R[:, :, 2]).sum(-1, keepdim=True).clamp_min(1e-8)  # z-normalised: camera z component 1
    nd = (n * d).sum(-1, keepdim=True)
    limit = MIN_COS * d.norm(dim=-1, keepdim=True)
    nd = torch.where(nd >= 0, nd.clamp_min(1e-12).maximum(limit), nd.minimum(-limit))
    z = size * focal[:, 0]  # camera z of each point in its best camera
    axes = []
    for j in range(2):
        e = R[:, :, j]
        step = (z / focal[:, j])[:, None] * (e - ((n * e).sum(-1, keepdim=True) / nd) * d)
        axes.append(step)
    widen = torch.as_tensor(widen, dtype=points.dtype).reshape(-1)  # [1] or [N]
    A = torch.stack(axes, dim=-1) * (sigma_px * widen)[:, None, None]  # [N, 3, 2]
    thin = (flatness * sigma_px * widen * size)[:, None, None] * n[:, :, None]
    cov = A @ A.transpose(1, 2) + thin @ thin.transpose(1, 2)
    evals, evecs = torch.linalg.eigh(cov.double())  # ascending: the normal's eigenvalue comes first
    evals, evecs = evals.flip(-1).float(), evecs.flip(-1).float()
    evecs[:, :, 2] *= torch.sign(torch.linalg.det(evecs))[:, None]  # proper rotations
    return evecs, 0.5 * evals.clamp_min(1e-20).log()


def estimate_normals(points: np.ndarray, viewpoint: np.ndarray, k: int = 10) -> np.ndarray:
    """Unit normals [N, 3] by PCA of the ``k`` nearest neighbours, oriented towards ``viewpoint`` [3].

    Only used when the scene carries no normals; the smallest principal axis of a local patch is its normal.
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(points, dtype=np.float64)
    n = len(pts)
    toward = viewpoint[None, :] - pts
    if n < 4:
        return (toward / np.linalg.norm(toward, axis=1, keepdims=True).clip(1e-12)).astype(np.float32)
    k = min(k, n)
    _, idx = cKDTree(pts).query(pts, k=k, workers=1)
    nb = pts[idx] - pts[idx].mean(axis=1, keepdims=True)  # [N, k, 3]
    cov = np.einsum("nki,nkj->nij", nb, nb)
    _, vecs = np.linalg.eigh(cov)
    normals = vecs[:, :, 0]
    flip = np.einsum("ni,ni->n", normals, toward) < 0
    normals[flip] *= -1
    return normals.astype(np.float32)


def merge_to_pixel_cells(
    points: torch.Tensor, rgb: torch.Tensor, normals: torch.Tensor | None, cameras: Sequence[Camera],
    depth_step: float = DEPTH_STEP,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Average the points that fall in the same pixel of their best camera (``best_view``) and the same thin depth
    slab (relative thickness ``depth_step``): ``(points, rgb, normals)``.

    Why: a scene lifted at full resolution has many points per pixel of a smaller working resolution. Merging them,
    rather than keeping a random subset, leaves one Gaussian per working pixel and visible surface, on that
    pixel's ray, with the area-averaged colour the downsampled targets have; the depth slabs keep foreground and
    background apart at depth edges.
    """
    size, index, uv = best_view(points, cameras)
    fx = torch.tensor([c.intrinsics.fx for c in cameras], dtype=points.dtype)[index]
    slab = torch.floor(torch.log((size * fx).clamp_min(1e-6)) / math.log1p(depth_step))
    keys = torch.stack([index, torch.round(uv[:, 0]).long(), torch.round(uv[:, 1]).long(), slab.long()], dim=1)
    _, inverse, counts = torch.unique(keys, dim=0, return_inverse=True, return_counts=True)
    m = len(counts)

    def mean(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(m, x.shape[1], dtype=x.dtype).index_add_(0, inverse, x) / counts[:, None].to(x.dtype)

    merged_normals = None if normals is None else torch.nn.functional.normalize(mean(normals), dim=1)
    return mean(points), mean(rgb), merged_normals


def gaussians_from_points(
    points: np.ndarray | torch.Tensor,
    colors: np.ndarray | torch.Tensor,
    cameras: Sequence[Camera],
    *,
    normals: np.ndarray | torch.Tensor | None = None,
    sh_degree: int = 3,
    opacity: float = INIT_OPACITY,
    sigma_px: float = FOOTPRINT_SIGMA,
    flatness: float = FLATNESS,
    max_gaussians: int | None = None,
    merge_cells: bool = False,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Gaussians:
    """One Gaussian per point (a random subset of ``max_gaussians`` when there are more).

    ``merge_cells``: first average points per pixel cell of ``cameras`` (``merge_to_pixel_cells``); use it when
    ``cameras`` are a lower working resolution than the one the points were lifted at.
    ``points`` [N, 3] world (OpenCV) metres; ``colors`` [N, 3] uint8 (or float in [0, 1]); ``normals`` [N, 3]
    or None (estimated). Subsampling widens the survivors by ``sqrt(N / kept)`` so the surface stays closed.
    Scales: ``sigma_px`` footprints in the surface, ``flatness`` times that along the normal.
    """
    pts = torch.as_tensor(np.asarray(points), dtype=torch.float32)
    cols = np.asarray(colors)
    rgb = torch.as_tensor(cols.astype(np.float32) / (255.0 if cols.dtype == np.uint8 else 1.0))
    if pts.ndim != 2 or pts.shape[1] != 3 or rgb.shape != pts.shape:
        raise ValueError(f"points and colors must both be [N, 3], got {tuple(pts.shape)} and {tuple(rgb.shape)}")
    if len(pts) == 0:
        raise ValueError("cannot initialise Gaussians from an empty point cloud")
    nrm = None if normals is None else torch.as_tensor(np.asarray(normals), dtype=torch.float32)

    widen = 1.0
    if merge_cells:
        n_before = len(pts)
        pts, rgb, nrm = merge_to_pixel_cells(pts, rgb, nrm, cameras)
        log.debug("merged %d points into %d pixel cells", n_before, len(pts))
    if max_gaussians is not None and len(pts) > max_gaussians:
        gen = torch.Generator().manual_seed(seed)
        keep = torch.randperm(len(pts), generator=gen)[:max_gaussians]
        widen = math.sqrt(len(pts) / max_gaussians)
        pts, rgb = pts[keep], rgb[keep]
        nrm = None if nrm is None else nrm[keep]

    if nrm is None or not torch.isfinite(nrm).all() or (nrm.norm(dim=-1) < 1e-6).any():
        viewpoint = cameras[0].cam_to_world[:3, 3].numpy().astype(np.float64)
        nrm = torch.as_tensor(estimate_normals(pts.numpy(), viewpoint))

    rot, log_scales = footprint_covariance(pts, nrm, cameras, sigma_px=sigma_px, flatness=flatness, widen=widen)
    sh = torch.zeros(len(pts), num_sh_bases(sh_degree), 3)
    sh[:, 0] = rgb_to_sh_dc(rgb)
    logit = math.log(opacity / (1 - opacity))
    g = Gaussians(pts, rotmat_to_quat(rot), log_scales, torch.full((len(pts),), logit), sh)
    log.debug("initialised %d Gaussians", len(g))
    return g.to(device)
