"""Feed-forward Gaussians from one image: Splatter Image (Szymanowicz et al., CVPR 2024) with a depth channel."""

from pathlib import Path

from core.splatter.config import SplatterConfig
from core.splatter.model import SplatterNet

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights" / "gld8tr-splatter"
"""Folder of the checkpoint shipped in the repository (the default of ``--gs-method feedforward``)."""

__all__ = ["SHIPPED_DIR", "SplatterConfig", "SplatterNet"]
