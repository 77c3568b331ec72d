"""Exact signed distance of a procedural scene: the ground truth a volumetric reconstruction is trained on.

Positive in free space, negative inside solids, metres. A plane ``n . x = d`` bounds a half-space whose free side
is the one its normal points into (rooms: six inward planes; streets: the ground), so its signed distance is
``n . x - d`` and the free space of a convex room is the minimum over its planes. Boxes (yawed about y), vertical
capped cylinders and spheres use their closed-form distances (Quilez). The scene is the union of all solids, so
its distance is the minimum: exact everywhere in free space (the distance to a union is the least distance to its
parts) and a tight bound with the right sign inside, which is all a truncated SDF needs.
"""

from __future__ import annotations

import torch

from training.synth.primitives import Primitives


def _box_sdf(p: torch.Tensor, center: torch.Tensor, half: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
    """p [N, 3]; boxes [P] -> [P, N]."""
    c, s = torch.cos(yaw)[:, None], torch.sin(yaw)[:, None]
    rel = p[None] - center[:, None]
    local = torch.stack(
        [c * rel[..., 0] - s * rel[..., 2], rel[..., 1], s * rel[..., 0] + c * rel[..., 2]], -1
    ).abs() - half[:, None]
    outside = local.clamp_min(0).norm(dim=-1)
    inside = local.max(-1).values.clamp_max(0)
    return outside + inside


def _cylinder_sdf(
    p: torch.Tensor, center_xz: torch.Tensor, radius: torch.Tensor, y_range: torch.Tensor
) -> torch.Tensor:
    """p [N, 3]; vertical capped cylinders [P] -> [P, N]."""
    dx = p[None, :, 0] - center_xz[:, 0:1]
    dz = p[None, :, 2] - center_xz[:, 1:2]
    radial = torch.sqrt(dx * dx + dz * dz) - radius[:, None]
    yc = (y_range[:, 0:1] + y_range[:, 1:2]) / 2
    hh = (y_range[:, 1:2] - y_range[:, 0:1]) / 2
    vertical = (p[None, :, 1] - yc).abs() - hh
    d = torch.stack([radial, vertical], -1)
    return d.max(-1).values.clamp_max(0) + d.clamp_min(0).norm(dim=-1)


def scene_sdf(points: torch.Tensor, prims: Primitives, chunk: int = 65536) -> torch.Tensor:
    """Signed distance [N] (metres, + in free space) of world points [N, 3] to the scene ``prims``."""
    points = points.float()
    out = torch.empty(points.shape[0], device=points.device)
    for s in range(0, points.shape[0], chunk):
        p = points[s : s + chunk]
        best = torch.full((p.shape[0],), float("inf"), device=p.device)
        if prims.plane_normal.shape[0]:
            planes = p @ prims.plane_normal.T.to(p) - prims.plane_offset.to(p)[None]  # [n, Pp]
            best = torch.minimum(best, planes.min(1).values)
        if prims.box_center.shape[0]:
            d = _box_sdf(p, prims.box_center.to(p), prims.box_half.to(p), prims.box_yaw.to(p))
            best = torch.minimum(best, d.min(0).values)
        if prims.cyl_center.shape[0]:
            d = _cylinder_sdf(p, prims.cyl_center.to(p), prims.cyl_radius.to(p), prims.cyl_y.to(p))
            best = torch.minimum(best, d.min(0).values)
        if prims.sphere_center.shape[0]:
            d = torch.cdist(p, prims.sphere_center.to(p)) - prims.sphere_radius.to(p)[None]
            best = torch.minimum(best, d.min(1).values)
        out[s : s + chunk] = best
    return out
