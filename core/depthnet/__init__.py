"""The depth-completion network (Invisible Stitch's key model, shrunk to a CPU-trainable U-Net)."""

from pathlib import Path

from core.depthnet.config import DepthNetConfig
from core.depthnet.model import DepthCompletionNet

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights" / "gld8tr-depth"
"""Folder of the completion checkpoint shipped in the repository (the ``gld8tr`` completer)."""

SHIPPED_MONO_DIR = SHIPPED_DIR.parent / "gld8tr-depth-mono"
"""Folder of the monocular checkpoint shipped beside it (the ``gld8tr`` estimator: the first photo's depth). Same
architecture, fine-tuned and selected for the monocular task alone, which the completion checkpoint trades away."""

__all__ = ["SHIPPED_DIR", "SHIPPED_MONO_DIR", "DepthCompletionNet", "DepthNetConfig"]
