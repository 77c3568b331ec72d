"""PatchMatch inpainting (``pypatchmatch``): the embedded, offline, CPU image inpainter.

It copies patches from the visible part of the view into the holes. It ignores the prompt: it can only continue
textures that the photo already shows, which is what a stage or a 360 view mostly needs and the reason it is a
fallback, not a replacement, for diffusion inpainting. The library keeps one global random generator, so the
seed is set right before each call; with a fixed seed the output is deterministic.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from core.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_PATCH_SIZE = 3
_LOCK = threading.Lock()  # the library's random generator is process-global


class PatchMatchInpainter:
    """``Inpainter`` backed by PatchMatch; ``patch_size`` in pixels (odd, 3 is fast and sharp)."""

    name = "patchmatch"

    def __init__(self, patch_size: int = DEFAULT_PATCH_SIZE) -> None:
        if patch_size < 1 or patch_size % 2 == 0:
            raise ValueError(f"patch_size must be a positive odd number, got {patch_size}")
        self.patch_size = patch_size

    def __call__(self, image: np.ndarray, mask: np.ndarray, prompt: str = "", *, seed: int | None = None) -> np.ndarray:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask {mask.shape} must match the image {image.shape[:2]}")
        mask = mask.astype(bool)
        if not mask.any():
            return image.copy()
        if mask.all():
            # Nothing to copy from: a neutral grey lets depth completion and later views carry on.
            log.warning("patchmatch: the whole view is masked; filling it with neutral grey")
            return np.full_like(image, 127)
        from patchmatch import patch_match

        with _LOCK:
            if seed is not None:
                patch_match.set_random_seed(int(seed) & 0x7FFFFFFF)
            out = patch_match.inpaint(
                np.ascontiguousarray(image), mask=mask.astype(np.uint8) * 255, patch_size=self.patch_size
            )
        # The protocol promises untouched pixels outside the mask; enforce it rather than trust the library.
        return np.where(mask[..., None], out, image).astype(np.uint8)


def build(
    arg: str | None = None, *, device: str = "cpu", patch_size: int | None = None, **options: object
) -> PatchMatchInpainter:
    """Registry factory for ``patchmatch[:PATCH_SIZE]`` (CPU; ``device`` is accepted and ignored)."""
    size = patch_size if patch_size is not None else DEFAULT_PATCH_SIZE
    if arg:
        try:
            size = int(arg)
        except ValueError:
            size = 0
        if size < 1 or size % 2 == 0:
            raise InputError(f"patchmatch takes an odd patch size as argument (patchmatch:5), got {arg!r}")
    return PatchMatchInpainter(size)
