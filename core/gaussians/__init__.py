"""3D Gaussian splatting of a generated scene: initialise from the point cloud, fit to the views, export.

Public API (everything in the project's OpenCV world frame; see ``core.gaussians.axes`` for OpenGL exports):

* ``gaussians_from_points`` - one Gaussian per point, sized to its pixel footprint, flattened along the normal;
* ``rasterize_reference`` - plain-torch differentiable renderer (CPU and CUDA); ``rasterize_gsplat`` on CUDA;
* ``fit_gaussians`` - L1 + SSIM fitting with 3DGS densification, returning ``FitResult`` with PSNRs;
* ``save_gaussian_ply`` / ``load_gaussian_ply`` (3DGS PLY), ``save_splat`` / ``load_splat`` (.splat),
  ``save_spz`` / ``load_spz`` (.spz), ``save_gaussians`` / ``load_gaussians`` choosing by file suffix.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.gaussians.axes import AXES, Axes
from core.gaussians.fit import FitConfig, FitResult, fit_gaussians
from core.gaussians.init import gaussians_from_points
from core.gaussians.model import Gaussians
from core.gaussians.ply import gaussian_ply_bytes, is_gaussian_ply, load_gaussian_ply, save_gaussian_ply
from core.gaussians.rasterize import GaussianRender, psnr, rasterize_reference
from core.gaussians.splat import load_splat, save_splat, splat_bytes
from core.gaussians.spz import load_spz, save_spz, spz_bytes

FORMATS = (".ply", ".splat", ".spz")


def save_gaussians(g: Gaussians, path: str | os.PathLike[str], *, axes: Axes = "opencv") -> Path:
    """Write ``g`` as ``.ply`` (3DGS layout), ``.splat`` or ``.spz``, chosen by the suffix of ``path``.

    ``axes`` applies to ``.ply`` and ``.splat``; ``.spz`` defines its own axes (RUB) and is always written in them.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".ply":
        return save_gaussian_ply(g, path, axes=axes)
    if suffix == ".splat":
        return save_splat(g, path, axes=axes)
    if suffix == ".spz":
        return save_spz(g, path)
    raise ValueError(f"unknown Gaussian file type {suffix!r}; use one of {', '.join(FORMATS)}")


def load_gaussians(path: str | os.PathLike[str], *, axes: Axes = "opencv") -> Gaussians:
    suffix = Path(path).suffix.lower()
    if suffix == ".ply":
        return load_gaussian_ply(path, axes=axes)
    if suffix == ".splat":
        return load_splat(path, axes=axes)
    if suffix == ".spz":
        return load_spz(path)
    raise ValueError(f"unknown Gaussian file type {suffix!r}; use one of {', '.join(FORMATS)}")


__all__ = [
    "AXES",
    "FORMATS",
    "Axes",
    "FitConfig",
    "FitResult",
    "GaussianRender",
    "Gaussians",
    "fit_gaussians",
    "gaussian_ply_bytes",
    "gaussians_from_points",
    "is_gaussian_ply",
    "load_gaussian_ply",
    "load_gaussians",
    "load_splat",
    "load_spz",
    "psnr",
    "rasterize_reference",
    "save_gaussian_ply",
    "save_gaussians",
    "save_splat",
    "save_spz",
    "splat_bytes",
    "spz_bytes",
]
