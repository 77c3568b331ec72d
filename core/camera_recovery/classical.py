"""Closed-form and geometric camera recovery, the baselines beside the learned module.

* :func:`focal_shift_from_point_map` -- MoGe's recovery for models that predict a full point map (x, y, z per
  pixel, e.g. MoGe-2): for a fixed shift ``t`` the best focal is closed form, ``f = sum(q.uv) / sum(q.q)`` with
  ``q = xy / (z + t)``, so only a 1-D problem in ``t`` remains. With a depth map alone it has nothing to recover
  (x and y are made from the focal being tested), hence the next one.
* :func:`geometric_search` -- depth-only, no learning: the shift that makes local neighbourhoods most planar
  (a wrong shift bends planes; a wrong focal does not), then the focal whose surface normals are closest to
  pairwise parallel-or-orthogonal (a "Manhattan" scene; a wrong focal skews right angles).
* Known metric depth: the least-squares scale and shift of :func:`core.backends.aligned_mono.fit_scale_shift`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from core.camera_recovery.geometry import MIN_DEPTH_AFTER_SHIFT, unproject_normalised


def focal_shift_from_point_map(points: np.ndarray, uv: np.ndarray) -> tuple[float, float]:
    """``(f_n, t)`` minimising sum ||f (x, y) / (z + t) - uv||^2 over the points.

    points [N, 3] (any scale, z > 0 after the shift), uv [N, 2] normalised pixel coordinates of the same
    points. The focal is in the units of ``uv`` (half widths here), ``t`` in the units of ``points``.
    """
    from scipy.optimize import minimize_scalar

    p = np.asarray(points, dtype=np.float64)
    q_uv = np.asarray(uv, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or q_uv.shape != (len(p), 2) or len(p) < 3:
        raise ValueError(f"need points [N, 3] and uv [N, 2] with N >= 3, got {p.shape} and {q_uv.shape}")
    xy, z = p[:, :2], p[:, 2]
    scale = float(np.median(np.abs(z))) or 1.0
    lo = -float(z.min()) + 1e-3 * scale

    def focal(t: float) -> float:
        q = xy / (z + t)[:, None]
        return float((q * q_uv).sum() / max((q * q).sum(), 1e-30))

    def cost(t: float) -> float:
        q = xy / (z + t)[:, None]
        return float(((focal(t) * q - q_uv) ** 2).sum())

    res = minimize_scalar(cost, bounds=(lo, lo + 20 * scale), method="bounded", options={"xatol": 1e-9 * scale})
    t = float(res.x)
    return focal(t), t


def _neighbourhoods(xyz: torch.Tensor, k: int) -> torch.Tensor:
    """Indices [N, k] of each point's k nearest neighbours (itself included)."""
    return torch.cdist(xyz, xyz).topk(k, dim=-1, largest=False).indices


def _local_pca(xyz: torch.Tensor, nbr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues [N, 3] (ascending) and the normal (smallest eigenvector) [N, 3] of each neighbourhood."""
    g = xyz[nbr]
    c = g - g.mean(dim=1, keepdim=True)
    cov = c.transpose(1, 2) @ c / nbr.shape[1]
    evals, evecs = torch.linalg.eigh(cov.double())
    return evals.float(), evecs[:, :, 0].float()


def planarity_cost(depth_n: torch.Tensor, uv: torch.Tensor, f_n: float, nbr: torch.Tensor) -> float:
    """Median over neighbourhoods of lambda_min / (lambda sum): 0 for a cloud made of planes."""
    evals, _ = _local_pca(unproject_normalised(depth_n, uv, f_n), nbr)
    return float((evals[:, 0] / evals.sum(-1).clamp_min(1e-20)).median())


def manhattan_cost(normals: torch.Tensor, log_scale: float) -> float:
    """How far the normals are from pairwise parallel-or-orthogonal once x and y are rescaled by ``e^log_scale``
    (a focal change scales x, y of the points, so normals scale by the inverse): mean of min(|cos|, |sin|)."""
    a = math.exp(log_scale)
    n = normals * torch.tensor([1 / a, 1 / a, 1.0])
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    c = (n @ n.T).abs().clamp(max=1.0)
    return float(torch.minimum(c, (1 - c * c).clamp_min(0).sqrt()).mean())


def geometric_search(
    depth_n: torch.Tensor, uv: torch.Tensor, f_guess: float, *, k: int = 24, max_normals: int = 600,
    shift_range: tuple[float, float] = (-0.25, 0.8), log_scale_range: tuple[float, float] = (-1.0, 1.0),
) -> tuple[float, float]:
    """Depth-only recovery by two 1-D searches; returns ``(shift in units of depth_n, focal f_n)``.

    depth_n [N] sampled valid depths (98th percentile 1), uv [N, 2] their normalised pixel coordinates.
    The neighbourhoods are chosen once in the guessed cloud (a shift or focal change moves points only a little
    relative to their neighbours); the shift is searched on a coarse grid then refined around its best value.
    """
    nearest = float(depth_n.min())
    lo = shift_range[0]
    hi = min(shift_range[1], nearest - MIN_DEPTH_AFTER_SHIFT)
    nbr = _neighbourhoods(unproject_normalised(depth_n, uv, f_guess), k)
    # 1. Shift: coarse grid, then a finer one around the best.
    grid = np.linspace(lo, hi, 22) if hi > lo else np.array([min(lo, hi)])
    costs = [planarity_cost(depth_n - t, uv, f_guess, nbr) for t in grid]
    best = float(grid[int(np.argmin(costs))])
    if len(grid) > 1:
        step = grid[1] - grid[0]
        fine = np.clip(np.linspace(best - step, best + step, 11), lo, hi)
        costs = [planarity_cost(depth_n - t, uv, f_guess, nbr) for t in fine]
        best = float(fine[int(np.argmin(costs))])
    # 2. Focal: normals of the most planar neighbourhoods of the corrected cloud.
    evals, normals = _local_pca(unproject_normalised(depth_n - best, uv, f_guess), nbr)
    flat = evals[:, 0] / evals.sum(-1).clamp_min(1e-20)
    keep = torch.argsort(flat)[: min(max_normals, len(flat) // 2 or 1)]
    scales = np.linspace(*log_scale_range, 81)
    # A small pull towards the guess breaks ties (a scene of one plane says nothing about the focal).
    costs = [manhattan_cost(normals[keep], s) + 1e-3 * abs(s) for s in scales]
    log_scale = float(scales[int(np.argmin(costs))])
    return best, f_guess / math.exp(log_scale)  # x, y scaled by e^s <=> focal divided by it
