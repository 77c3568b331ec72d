"""Depth completion guided by the photo: classical fills that follow the image's edges.

The ``nearest`` and ``laplacian`` fills (:mod:`core.backends.classical_fill`) ignore the image, so a hole that
spans a foreground object and the wall behind it gets one smooth surface. Two classical answers use the photo:

* ``colorization`` -- the fill of the NYU Depth v2 toolbox (``fill_depth_colorization.m``), which is Levin,
  Lischinski and Weiss' colourisation by optimisation (SIGGRAPH 2004) applied to depth: every unknown pixel equals
  a weighted mean of its 3x3 neighbours, with weights ``exp(-(Y_r - Y_s)^2 / sigma_r)`` from the grey level ``Y``
  and ``sigma_r`` = 0.6 x the local grey variance (floored as the toolbox does). Depth then flows freely across
  flat image regions and hardly across image edges. One sparse solve.
* ``bilateral`` -- joint-bilateral hole filling by onion peeling (the usual way to fill Kinect depth with the
  colour image): ring by ring from the hole's border inwards, each pixel takes the joint-bilateral average (a
  spatial Gaussian times a colour-similarity Gaussian) of the log depth already known or filled around it. Pure
  torch on any device, batched.

The arithmetic is :mod:`core.guided_fill` (shared with the network's fill priors); this module wraps it as
registry backends. Both keep the known pixels exactly, need some known depth (``ValueError`` otherwise, as the
protocol allows) and are scale-equivariant: multiplying the known depth by ``k`` multiplies the fill by ``k``.
"""

from __future__ import annotations

import numpy as np

from core.backends.classical_fill import _check
from core.errors import InputError
from core.guided_fill import bilateral_fill_depth, colorization_fill

__all__ = ["BilateralFill", "ColorizationFill", "build_bilateral", "build_colorization"]

# ----------------------------------------------------------------------------------------------- backends
class ColorizationFill:
    """``DepthCompleter``: the NYU toolbox's colourisation fill (Levin et al.), guided by the photo's grey level."""

    def __init__(self, *, log_depth: bool = False) -> None:
        self.log_depth = log_depth
        self.name = "colorization:log" if log_depth else "colorization"

    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        known = _check(image, depth, known_mask)
        return colorization_fill(image, depth, known, log_depth=self.log_depth)


class BilateralFill:
    """``DepthCompleter``: joint-bilateral onion-peel fill of log depth, guided by the photo's colours."""

    name = "bilateral"

    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        known = _check(image, depth, known_mask)
        return bilateral_fill_depth(image, depth, known)


def build_colorization(arg: str | None = None, *, device: str = "cpu", **options: object) -> ColorizationFill:
    """Registry factory for ``colorization`` (metres, as the NYU toolbox) and ``colorization:log`` (log depth)."""
    if arg not in (None, "", "log"):
        raise InputError(f"the 'colorization' depth completer takes no argument or 'log', got {arg!r}")
    return ColorizationFill(log_depth=arg == "log")


def build_bilateral(arg: str | None = None, *, device: str = "cpu", **options: object) -> BilateralFill:
    """Registry factory for spec ``bilateral`` (CPU; ``device`` is accepted and ignored)."""
    if arg:
        raise InputError(f"the 'bilateral' depth completer takes no argument, got {arg!r}")
    return BilateralFill()
