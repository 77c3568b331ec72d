"""Read a user-supplied depth map (RGB-D input) as float32 metres ``[H, W]``, 0 = unknown.

Formats: 16-bit PNG in millimetres (the Kinect / ScanNet / TUM convention), ``.npy`` in metres, and PFM in
metres. Non-finite and negative values become 0 (unknown) rather than errors: sensors produce them.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import InputError

PNG_DEPTH_SCALE = 1000.0
"""16-bit PNG depth stores millimetres."""


def load_depth(source: str | Path | np.ndarray, *, expected_shape: tuple[int, int] | None = None) -> np.ndarray:
    """float32 [H, W] metres; raises :class:`InputError` for unreadable files or a size other than expected."""
    label = str(source) if isinstance(source, str | Path) else "depth"
    if isinstance(source, np.ndarray):
        depth = source
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"depth {label}: no such file")
        data = path.read_bytes()
        if not data:
            raise InputError(f"depth {label}: the file is empty (0 bytes)")
        suffix = path.suffix.lower()
        if suffix == ".npy":
            depth = _read_npy(data, label)
        elif suffix == ".pfm":
            depth = read_pfm(data, label)
        else:
            depth = _read_png(data, label)
    depth = np.asarray(depth)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    if depth.ndim != 2:
        raise InputError(f"depth {label}: expected a single-channel [H, W] map, got shape {depth.shape}")
    if not (np.issubdtype(depth.dtype, np.floating) or np.issubdtype(depth.dtype, np.integer)):
        raise InputError(f"depth {label}: unsupported dtype {depth.dtype}")
    depth = depth.astype(np.float32)
    depth[~np.isfinite(depth) | (depth < 0)] = 0.0
    if expected_shape is not None and depth.shape != tuple(expected_shape):
        eh, ew = expected_shape
        raise InputError(
            f"depth {label} is {depth.shape[1]}x{depth.shape[0]} but the image is {ew}x{eh}; they must match"
        )
    if not (depth > 0).any():
        raise InputError(f"depth {label}: no valid (positive) depth value")
    return depth


def _read_npy(data: bytes, label: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"depth {label}: not a readable .npy array ({exc})") from None


def _read_png(data: bytes, label: str) -> np.ndarray:
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except UnidentifiedImageError:
        raise InputError(f"depth {label}: not an image or .npy/.pfm file") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"depth {label}: corrupt or truncated image ({exc})") from None
    if im.mode not in ("I;16", "I;16B", "I;16L", "I", "F"):
        raise InputError(
            f"depth {label}: image mode {im.mode} is not a depth map; use a 16-bit PNG in millimetres, .npy or .pfm"
        )
    return np.asarray(im).astype(np.float32) / PNG_DEPTH_SCALE


def read_pfm(data: bytes, label: str = "pfm") -> np.ndarray:
    """Portable Float Map: header ``Pf`` (1 channel) or ``PF`` (3), size, scale (< 0 little-endian); rows bottom-up."""
    match = re.match(rb"(P[Ff])\s+(\d+)\s+(\d+)\s+(-?[\d.eE+-]+)\s", data)
    if not match:
        raise InputError(f"depth {label}: not a PFM file")
    kind, w, h, scale = match.group(1), int(match.group(2)), int(match.group(3)), float(match.group(4))
    channels = 3 if kind == b"PF" else 1
    dtype = "<f4" if scale < 0 else ">f4"
    count = w * h * channels
    body = data[match.end() :]
    if len(body) < 4 * count:
        raise InputError(f"depth {label}: truncated PFM ({len(body)} bytes for {w}x{h}x{channels} floats)")
    arr = np.frombuffer(body[: 4 * count], dtype=dtype).reshape(h, w, channels)[::-1]
    return np.ascontiguousarray(arr[..., 0])


def write_pfm(path: str | Path, depth: np.ndarray) -> None:
    """Write a single-channel little-endian PFM (used by tests and tools)."""
    depth = np.asarray(depth, dtype="<f4")
    h, w = depth.shape
    Path(path).write_bytes(f"Pf\n{w} {h}\n-1.0\n".encode() + np.ascontiguousarray(depth[::-1]).tobytes())


def write_depth_png(path: str | Path, depth_m: np.ndarray) -> None:
    """Write metres as a 16-bit PNG in millimetres (values clipped to 65.535 m)."""
    mm = np.clip(np.round(np.asarray(depth_m) * PNG_DEPTH_SCALE), 0, 65535).astype(np.uint16)
    Image.fromarray(mm).save(path)
