"""The depth-completion network (Invisible Stitch's key model, shrunk to a CPU-trainable U-Net)."""

from pathlib import Path

from core.depthnet.config import DepthNetConfig
from core.depthnet.model import DepthCompletionNet

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights" / "gld8tr-depth"
"""Folder of the checkpoint shipped in the repository (the ``gld8tr`` backend spec)."""

__all__ = ["SHIPPED_DIR", "DepthCompletionNet", "DepthNetConfig"]
