"""Decode a user's photo into RGB ``uint8`` ``[H, W, 3]``, refusing what cannot be a photo.

Shared by ``gld8tr run`` and the web API, so both reject the same inputs with the same one-line messages: empty
files, non-images, truncated files, decompression bombs (checked from the header, before any pixel is decoded)
and images too small to work with. Inputs that are merely unusual are converted rather than refused:
grayscale, palette, CMYK, 16-bit and float images, and alpha (composited over white, as a viewer shows it).
EXIF orientation is applied so the scene is built upright.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InputError

DEFAULT_MAX_PIXELS = 40_000_000
"""Largest image accepted by default (an 8K photo is 33 MP); larger headers are refused before decoding."""

MIN_SIDE = 16
"""Smallest accepted width or height in pixels."""

ImageSource = bytes | bytearray | memoryview | str | Path | Image.Image | np.ndarray


def load_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> np.ndarray:
    """RGB ``uint8`` [H, W, 3] from encoded bytes, a file path, a PIL image or an array.

    Raises :class:`InputError` naming the problem (and ``name``, or the path, when given).
    """
    label = name or (str(source) if isinstance(source, str | Path) else "image")
    if isinstance(source, np.ndarray):
        rgb = array_to_rgb(source, label)
    elif isinstance(source, Image.Image):
        _check_size(source.size, max_pixels, label)
        rgb = pil_to_rgb(source)
    else:
        rgb = pil_to_rgb(_open(source, max_pixels, label))
    h, w = rgb.shape[:2]
    _check_size((w, h), max_pixels, label)
    return rgb


def _open(source: bytes | bytearray | memoryview | str | Path, max_pixels: int, label: str) -> Image.Image:
    """Open and fully decode, converting every decoder failure into one ``InputError``."""
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"{label}: no such file")
        data = path.read_bytes()
    else:
        data = bytes(source)
    if not data:
        raise InputError(f"{label}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            _check_size(im.size, max_pixels, label)  # header only: nothing decoded yet
            im.load()
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses before returning the header; its message carries the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)) / 1e6:.0f} MP" if found else "too many pixels"
        raise InputError(
            f"{label}: image has {size}, more than the {max_pixels / 1e6:g} MP allowed (decompression bomb?)"
        ) from None
    except UnidentifiedImageError:
        raise InputError(f"{label}: not an image file (format not recognised)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"{label}: corrupt or truncated image ({exc})") from None
    return im


def _check_size(size: tuple[int, int], max_pixels: int, label: str) -> None:
    w, h = size
    if w * h > max_pixels:
        mp = w * h / 1e6
        raise InputError(f"{label}: image is {w}x{h} = {mp:.0f} MP, more than the {max_pixels / 1e6:g} MP allowed")
    if min(w, h) < MIN_SIDE:
        raise InputError(f"{label}: image is {w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")


def pil_to_rgb(im: Image.Image) -> np.ndarray:
    """Any PIL mode -> RGB uint8 [H, W, 3] (orientation applied, alpha over white, high bit depths scaled)."""
    im = ImageOps.exif_transpose(im) or im
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return array_to_rgb(np.asarray(im), "image")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def array_to_rgb(arr: np.ndarray, label: str = "image") -> np.ndarray:
    """Gray [H, W] / [H, W, 1], RGB or RGBA arrays of uint8, uint16 or float [0, 1] -> RGB uint8 [H, W, 3]."""
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise InputError(f"{label}: expected an [H, W], [H, W, 3] or [H, W, 4] array, got shape {a.shape}")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise InputError(f"{label}: float image contains NaN or infinity")
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        a = np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.integer):
            raise InputError(f"{label}: unsupported pixel type {a.dtype}")
        # 16-bit (or wider) integers: map the full 16-bit range to 8 bits.
        a = np.clip(a.astype(np.float64) / 257.0 + 0.5, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


def resize_max_side(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """Downscale (never upscale) so that the longer side is at most ``max_side``; Lanczos filter."""
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def crop_box(height: int, width: int, multiple: int) -> tuple[int, int, int, int]:
    """Centred ``(top, left, new_height, new_width)`` whose sides are multiples of ``multiple``."""
    nh, nw = height - height % multiple, width - width % multiple
    if nh == 0 or nw == 0:
        raise InputError(f"image is {width}x{height}; each side must be at least {multiple} pixels")
    return (height - nh) // 2, (width - nw) // 2, nh, nw


def crop_to_multiple(array: np.ndarray, multiple: int = 8) -> np.ndarray:
    """Centre-crop an [H, W, ...] array so H and W are multiples of ``multiple`` (the networks' stride)."""
    top, left, nh, nw = crop_box(array.shape[0], array.shape[1], multiple)
    return array[top : top + nh, left : left + nw]
