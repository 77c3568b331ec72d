"""PatchMatch inpainting (``pypatchmatch``): the embedded, offline, CPU image inpainter.

It copies patches from the visible part of the view into the holes. It ignores the prompt: it can only continue
textures that the photo already shows, which is what a stage or a 360 view mostly needs and the reason it is a
fallback, not a replacement, for diffusion inpainting. The library keeps one global random generator, so the
seed is set right before each call; with a fixed seed the output is deterministic.

``work_scale`` < 1 runs PatchMatch on a downscaled copy (a low-resolution pixel is a hole if any pixel under it
is) and pastes the upsampled fill into the hole only. Its cost in quality against the full-resolution fill is
measured by ``python -m benchmark.speed`` (PSNR / SSIM of the hole against the true photo), see docs/SPEED.md.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from core.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_PATCH_SIZE = 3
DEFAULT_WORK_SCALE = 0.5
"""PatchMatch runs at half resolution by default: about 4x less CPU per view, and on the loop's own masks cut
from held-out photos the fill is as close to the true pixels as a full-resolution fill (docs/SPEED.md)."""
_LOCK = threading.Lock()  # the library's random generator is process-global


class PatchMatchInpainter:
    """``Inpainter`` backed by PatchMatch; ``patch_size`` in pixels (odd, 3 is fast and sharp), ``work_scale`` the
    resolution PatchMatch works at (1 = the view's own)."""

    name = "patchmatch"

    def __init__(self, patch_size: int = DEFAULT_PATCH_SIZE, work_scale: float = DEFAULT_WORK_SCALE) -> None:
        if patch_size < 1 or patch_size % 2 == 0:
            raise ValueError(f"patch_size must be a positive odd number, got {patch_size}")
        if not 0.0 < work_scale <= 1.0:
            raise ValueError(f"work_scale must lie in (0, 1], got {work_scale}")
        self.patch_size = patch_size
        self.work_scale = work_scale

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
        H, W = mask.shape
        h, w = max(8, round(H * self.work_scale)), max(8, round(W * self.work_scale))
        if (h, w) == (H, W):
            out = self._patchmatch(image, mask, seed)
        else:
            from PIL import Image

            small = np.asarray(Image.fromarray(image).resize((w, h), Image.BOX))
            # A low-resolution pixel is a hole if any full-resolution pixel under it is (BOX averages the mask).
            small_mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((w, h), Image.BOX)) > 0
            if small_mask.all():
                return np.full_like(image, 127)  # as for a fully masked view
            filled = self._patchmatch(small, small_mask, seed) if small_mask.any() else small
            out = np.asarray(Image.fromarray(filled).resize((W, H), Image.BICUBIC))
        # The protocol promises untouched pixels outside the mask; enforce it rather than trust the library.
        return np.where(mask[..., None], out, image).astype(np.uint8)

    def _patchmatch(self, image: np.ndarray, mask: np.ndarray, seed: int | None) -> np.ndarray:
        from patchmatch import patch_match

        with _LOCK:
            if seed is not None:
                patch_match.set_random_seed(int(seed) & 0x7FFFFFFF)
            return patch_match.inpaint(
                np.ascontiguousarray(image), mask=mask.astype(np.uint8) * 255, patch_size=self.patch_size
            )


def build(
    arg: str | None = None, *, device: str = "cpu", patch_size: int | None = None, work_scale: float | None = None,
    **options: object,
) -> PatchMatchInpainter:
    """Registry factory for ``patchmatch[:PATCH_SIZE[:SCALE]]`` (CPU; ``device`` is accepted and ignored);
    ``patchmatch:3:1`` works at full resolution."""
    size = patch_size if patch_size is not None else DEFAULT_PATCH_SIZE
    scale = work_scale if work_scale is not None else DEFAULT_WORK_SCALE
    if arg:
        parts = arg.split(":")
        try:
            size = int(parts[0])
            scale = float(parts[1]) if len(parts) > 1 else scale
        except ValueError:
            size = 0
        if size < 1 or size % 2 == 0 or len(parts) > 2 or not 0.0 < scale <= 1.0:
            raise InputError(f"patchmatch takes an odd patch size and optionally a working scale in (0, 1] "
                             f"(patchmatch:5, patchmatch:3:1), got {arg!r}")
    return PatchMatchInpainter(size, scale)
