"""The three protocols every model backend implements.

Arrays at this boundary are numpy on the host, whatever device the backend computes on: images ``uint8``
``[H, W, 3]`` RGB, masks ``bool`` ``[H, W]``, depth ``float32`` ``[H, W]`` in metres with 0 = unknown. Backends
that hold GPU models move data themselves, so the pipeline never needs to know where a model lives.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Inpainter(Protocol):
    """Fills ``mask`` (True = fill) of ``image``; pixels outside the mask must come back unchanged."""

    name: str

    def __call__(self, image: np.ndarray, mask: np.ndarray, prompt: str = "", *, seed: int | None = None) -> np.ndarray:
        ...


@runtime_checkable
class DepthEstimator(Protocol):
    """Monocular metric depth (metres, z-depth) for an image."""

    name: str

    def __call__(self, image: np.ndarray) -> np.ndarray:
        ...


@runtime_checkable
class DepthCompleter(Protocol):
    """Dense depth for ``image`` that agrees with ``depth`` where ``known_mask`` is True.

    With ``known_mask`` all False it must still return a depth map (a monocular prediction) or raise
    ``ValueError`` if the method cannot work without known depth.
    """

    name: str

    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        ...
