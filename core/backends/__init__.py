"""Model backends behind three small protocols, picked by name through :mod:`core.backends.registry`."""

from core.backends.base import DepthCompleter, DepthEstimator, Inpainter

__all__ = ["DepthCompleter", "DepthEstimator", "Inpainter"]
