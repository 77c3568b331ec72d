"""Axis conventions for exported Gaussians.

The project stores Gaussians in OpenCV axes (x right, y down, z forward; world = the input camera). Many splat
viewers and the original 3DGS tooling expect OpenGL-style axes (y up, z backward), which the original Invisible
Stitch produced by negating y and z. That is a 180 degree turn about x, so it is applied as a rigid rotation:
positions and orientations turn, and view-dependent colour (SH bands) picks up the matching signs.
"""

from __future__ import annotations

from typing import Literal

import torch

from core.gaussians.model import Gaussians
from core.gaussians.sh import sh_basis

Axes = Literal["opencv", "opengl"]
AXES: tuple[str, ...] = ("opencv", "opengl")


def _sh_signs(bases: int) -> torch.Tensor:
    """Sign [K] each SH basis function takes under (x, y, z) -> (x, -y, -z); every basis is even or odd in (y, z)."""
    d = torch.tensor([[0.31, 0.52, 0.79]], dtype=torch.float64)
    d = d / d.norm()
    flipped = d * torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)
    degree = round(bases**0.5) - 1
    return torch.sign(sh_basis(degree, flipped) / sh_basis(degree, d))[0].float()


def flip_yz(g: Gaussians, *, inverse: bool = False) -> Gaussians:
    """The same Gaussians turned 180 degrees about x (OpenCV -> OpenGL axes; ``inverse`` turns back).

    Both directions give the same rotation; they differ in the quaternion's sign so that a round trip returns the
    stored numbers exactly.
    """
    means = g.means * torch.tensor([1.0, -1.0, -1.0], device=g.means.device)
    w, x, y, z = g.quats.unbind(-1)
    # (0, 1, 0, 0) * (w, x, y, z) = (-x, w, -z, y); its inverse (0, -1, 0, 0) * q = (x, -w, z, -y).
    quats = torch.stack([x, -w, z, -y] if inverse else [-x, w, -z, y], dim=-1)
    sh = g.sh * _sh_signs(g.sh.shape[1]).to(g.sh)[None, :, None]
    return Gaussians(means, quats, g.log_scales, g.opacity_logits, sh)


def _check(axes: str) -> None:
    if axes not in AXES:
        raise ValueError(f"axes must be one of {AXES}, got {axes!r}")


def to_axes(g: Gaussians, axes: Axes) -> Gaussians:
    """Project (OpenCV) Gaussians expressed in ``axes``, for export."""
    _check(axes)
    return flip_yz(g) if axes == "opengl" else g


def from_axes(g: Gaussians, axes: Axes) -> Gaussians:
    """Gaussians read in ``axes`` back in the project (OpenCV) frame; exact inverse of ``to_axes``."""
    _check(axes)
    return flip_yz(g, inverse=True) if axes == "opengl" else g
