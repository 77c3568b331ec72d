"""File decoding shared by the dataset readers: RGB photos and 16-bit depth PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def read_rgb(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 [H, W, 3] RGB; ``size`` = (width, height) resizes bilinearly (e.g. ScanNet colour to depth size)."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if size is not None and im.size != tuple(size):
            im = im.resize(tuple(size), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8).copy()


def read_depth_png(path: str | Path, units_per_metre: float = 1000.0) -> np.ndarray:
    """float32 [H, W] metres from a 16-bit PNG of integer depth units (millimetres by default); 0 stays 0."""
    with Image.open(path) as im:
        raw = np.asarray(im)
    if raw.ndim != 2 or raw.dtype.kind not in "ui":
        raise ValueError(f"{path}: expected a single-channel integer depth PNG, got {raw.dtype} {raw.shape}")
    return (raw.astype(np.float32) / units_per_metre).astype(np.float32)


def write_depth_png(path: str | Path, depth_m: np.ndarray, units_per_metre: float = 1000.0) -> None:
    """Inverse of :func:`read_depth_png` (16-bit, rounded; depths beyond 65.535 m at mm units are clipped)."""
    raw = np.clip(np.round(depth_m * units_per_metre), 0, 65535).astype(np.uint16)
    Image.fromarray(raw).save(path)
