"""The distortion model of the point-cloud module and its exact inverse.

A cloud is unprojected from a depth map with a normalised focal length ``f_n`` (pixels / half width):
``X = (u_n d / f_n, v_n d / f_n, d)``. The two unknowns of a single photo act on it as follows:

* depth shift ``t``: the observed (affine-invariant) depth is ``d_obs = s (d_true + t)`` for some scale ``s``;
  a wrong shift bends every plane that is not fronto-parallel.
* focal scale ``a``: the cloud is unprojected with ``f_in = a f_true``; x and y shrink by ``a`` (planes stay
  planes, angles between them change).

Depth is always handled in *normalised* units: divided by its 98th percentile, so the shift a network predicts
does not depend on the unknown scale. :func:`distort` builds a training input from true depth and
:func:`undistort` inverts it exactly (up to the global scale no single photo can recover).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

PERCENTILE = 0.98
"""Depth normaliser: the 98th percentile of the valid depths (robust to a few far outliers, unlike the max)."""
MIN_DEPTH_AFTER_SHIFT = 0.02
"""A shift may never push the nearest valid point closer than this (normalised units): it would flip the cloud."""


def focal_from_fov(fov_x_deg: float | torch.Tensor) -> float | torch.Tensor:
    """Normalised focal length ``1 / tan(fov_x / 2)`` (focal in pixels divided by half the image width)."""
    if isinstance(fov_x_deg, torch.Tensor):
        return 1.0 / torch.tan(torch.deg2rad(fov_x_deg) / 2)
    return 1.0 / math.tan(math.radians(fov_x_deg) / 2)


def fov_from_focal(f_n: float | torch.Tensor) -> float | torch.Tensor:
    """Horizontal field of view in degrees of a normalised focal length."""
    if isinstance(f_n, torch.Tensor):
        return torch.rad2deg(2 * torch.atan(1.0 / f_n))
    return math.degrees(2 * math.atan(1.0 / f_n))


def normalised_grid(height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``uv_n`` [H, W, 2]: pixel centres relative to the image centre, divided by half the width."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    half = width / 2
    return torch.stack([(u - (width - 1) / 2) / half, (v - (height - 1) / 2) / half], dim=-1)


def unproject_normalised(depth: torch.Tensor, uv: torch.Tensor, f_n: torch.Tensor | float) -> torch.Tensor:
    """Points ``[..., 3]`` from depth ``[...]``, normalised pixel coordinates ``uv [..., 2]`` and focal ``f_n``
    (a float or a tensor broadcasting against ``depth``)."""
    f = torch.as_tensor(f_n, dtype=depth.dtype, device=depth.device)
    return torch.stack([uv[..., 0] * depth / f, uv[..., 1] * depth / f, depth], dim=-1)


def depth_scale(depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """The normaliser of each depth map: 98th percentile of its valid values. depth, valid: [B, N] -> [B]."""
    big = torch.where(valid, depth, torch.full_like(depth, float("nan")))
    return torch.nanquantile(big, PERCENTILE, dim=-1)


def apply_shift(
    depth_n: torch.Tensor, shift_n: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Subtract a predicted shift from normalised depth and renormalise.

    depth_n, valid: [B, N]; shift_n: [B] (units of ``depth_n``). The shift is clamped so the nearest valid point
    stays at ``MIN_DEPTH_AFTER_SHIFT`` or farther. Returns ``(new_depth_n [B, N], scale [B], shift_used [B])``
    with ``depth_n - shift_used = scale * new_depth_n`` on valid entries.
    """
    nearest = torch.where(valid, depth_n, torch.full_like(depth_n, float("inf"))).amin(dim=-1)
    shift = torch.minimum(shift_n, nearest - MIN_DEPTH_AFTER_SHIFT)
    shifted = torch.where(valid, depth_n - shift[:, None], torch.zeros_like(depth_n))
    scale = depth_scale(shifted, valid)
    return shifted / scale[:, None], scale, shift


@dataclass
class DistortedCloud:
    """One batch of distorted clouds and the corrections that undo them.

    ``depth_n`` [B, N] observed depth normalised to a 98th percentile of 1 (0 where invalid); ``uv`` [B, N, 2];
    ``valid`` [B, N] bool; ``focal_in`` [B] the normalised focal the cloud is unprojected with; ``shift`` [B] the
    true shift in units of ``depth_n`` (true depth is proportional to ``depth_n - shift``); ``log_focal_scale`` [B]
    ``log(focal_in / focal_true)``.
    """

    depth_n: torch.Tensor
    uv: torch.Tensor
    valid: torch.Tensor
    focal_in: torch.Tensor
    shift: torch.Tensor
    log_focal_scale: torch.Tensor

    def points(self) -> torch.Tensor:
        """The distorted cloud [B, N, 3] the network sees."""
        return unproject_normalised(self.depth_n, self.uv, self.focal_in[:, None])


def distort(
    depth: torch.Tensor, uv: torch.Tensor, valid: torch.Tensor, focal_true: torch.Tensor,
    shift: torch.Tensor, focal_scale: torch.Tensor,
) -> DistortedCloud:
    """Distort true depth [B, N] (any units) with a depth shift and a focal-length scale.

    ``shift`` [B] is in units of the true depth normalised to its 98th percentile (LeReS draws it from about
    U[-0.25, 0.8]); it is raised where needed so every valid observed depth stays positive
    (>= ``MIN_DEPTH_AFTER_SHIFT``). ``focal_scale`` [B] multiplies the true normalised focal ``focal_true`` [B].
    """
    true_n = depth / depth_scale(depth, valid)[:, None]
    nearest = torch.where(valid, true_n, torch.full_like(true_n, float("inf"))).amin(dim=-1)
    t = torch.maximum(shift, MIN_DEPTH_AFTER_SHIFT - nearest)
    observed = torch.where(valid, true_n + t[:, None], torch.zeros_like(true_n))
    s = depth_scale(observed, valid)
    return DistortedCloud(
        depth_n=observed / s[:, None],
        uv=uv,
        valid=valid,
        focal_in=focal_true * focal_scale,
        shift=t / s,
        log_focal_scale=torch.log(focal_scale),
    )


def undistort(cloud: DistortedCloud, shift: torch.Tensor, log_focal_scale: torch.Tensor) -> torch.Tensor:
    """The corrected cloud [B, N, 3] for given corrections (the true ones give the true cloud up to scale).

    The shift is applied first (it changes depth), then the focal (it rescales x and y).
    """
    depth = torch.where(cloud.valid, cloud.depth_n - shift[:, None], torch.zeros_like(cloud.depth_n))
    return unproject_normalised(depth, cloud.uv, (cloud.focal_in / torch.exp(log_focal_scale))[:, None])


def sample_valid(valid: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices [n] of valid entries of a flat mask [M], drawn without replacement (with it when fewer are valid).

    ``generator=None`` gives an even, deterministic subsample (inference), a generator a random one (training).
    """
    idx = torch.nonzero(valid.reshape(-1), as_tuple=False)[:, 0]
    if idx.numel() == 0:
        raise ValueError("no valid points to sample")
    if generator is None:
        pick = torch.linspace(0, idx.numel() - 1, n, device=idx.device).round().long()
        return idx[pick]
    if idx.numel() >= n:
        return idx[torch.randperm(idx.numel(), generator=generator, device="cpu")[:n].to(idx.device)]
    return idx[torch.randint(idx.numel(), (n,), generator=generator, device="cpu").to(idx.device)]
