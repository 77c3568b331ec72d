"""Checks on uploaded files, done on the bytes before anything is stored or queued.

The API accepts a narrower set than the library: photos must be JPEG, PNG or WebP (415 otherwise), judged by
the decoder, never by the client's Content-Type or file name. Everything else is core.io's shared validation
(the same refusals as ``gld8tr run``): the pixel count is read from the header and refused before decoding, so a
decompression bomb costs nothing; truncated files and unusable depth answer 422. Depth comes as a 16-bit PNG
(millimetres) or a ``.npy`` array (metres; unsigned integers = millimetres) of the image's size. A ``.npy``
header is checked before ``np.load`` (``allow_pickle=False``) so a forged shape cannot make it allocate.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from api.problems import ProblemError
from core.errors import InputError
from core.io.depth import PNG_DEPTH_SCALE, load_depth
from core.io.image import load_image

IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class CheckedImage:
    format: str  # JPEG | PNG | WEBP
    width: int
    height: int
    extension: str


@dataclass(frozen=True)
class CheckedDepth:
    format: str  # png16 | npy
    extension: str


def _open_image(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ProblemError(422, "Image too large", str(exc), slug="too-many-pixels") from exc
        except Exception as exc:  # PIL raises several types for unknown or broken files
            raise ProblemError(
                415, "Unsupported image", "not a readable JPEG, PNG or WebP image", slug="unsupported-media"
            ) from exc


def _input_error(exc: InputError, slug: str) -> ProblemError:
    title = "Image too large" if "MP allowed" in str(exc) or "too large" in str(exc) else "Invalid input"
    return ProblemError(422, title, str(exc), slug=slug)


def check_image(data: bytes, *, max_pixels: int) -> CheckedImage:
    """Validate an uploaded photo: JPEG/PNG/WebP (415 otherwise), then the shared core.io checks (422)."""
    if not data:
        raise ProblemError(422, "Empty image", "the image part is empty", slug="invalid-image")
    fmt = _open_image(data).format or ""  # header only
    if fmt not in IMAGE_FORMATS:
        raise ProblemError(
            415, "Unsupported image format", f"{fmt or 'unknown'} is not accepted; send JPEG, PNG or WebP",
            slug="unsupported-media",
        )
    try:
        # Size limits are checked from the header before decoding; then a full decode catches truncation.
        rgb = load_image(data, max_pixels=max_pixels, name="image")
    except InputError as exc:
        raise _input_error(exc, "invalid-image") from exc
    h, w = rgb.shape[:2]
    return CheckedImage(format=fmt, width=w, height=h, extension={"JPEG": "jpg"}.get(fmt, fmt.lower()))


def _check_npy(data: bytes, width: int, height: int) -> None:
    buf = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(buf)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = reader(buf)  # header only: nothing is unpickled or allocated yet
    except Exception as exc:
        raise ProblemError(422, "Invalid depth", "the .npy header cannot be read", slug="invalid-depth") from exc
    if dtype.hasobject or dtype.kind not in "fu":
        raise ProblemError(422, "Invalid depth", f"depth dtype {dtype} is not float or uint16", slug="invalid-depth")
    if tuple(shape) != (height, width):
        raise ProblemError(
            422, "Depth size mismatch", f"depth is {tuple(shape)}, image is ({height}, {width})", slug="invalid-depth"
        )
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:
        raise ProblemError(
            422, "Invalid depth", "the .npy data is truncated or unreadable", slug="invalid-depth"
        ) from exc
    if arr.dtype.kind == "u":
        arr = arr.astype(np.float32) / PNG_DEPTH_SCALE  # integer depth is millimetres, as in PNG
    _check_values(arr, width, height)


def _check_values(depth_m: np.ndarray, width: int, height: int) -> None:
    try:
        load_depth(depth_m, expected_shape=(height, width))
    except InputError as exc:
        raise _input_error(exc, "invalid-depth") from exc


def check_depth(data: bytes, *, width: int, height: int) -> CheckedDepth:
    """Validate an optional depth upload against the image's size."""
    if data.startswith(NPY_MAGIC):
        _check_npy(data, width, height)
        return CheckedDepth(format="npy", extension="npy")
    img = _open_image(data)
    if img.format != "PNG" or img.mode not in ("I;16", "I;16B", "I;16L", "I"):
        raise ProblemError(
            415, "Unsupported depth format", "depth must be a 16-bit PNG (millimetres) or a .npy array (metres)",
            slug="unsupported-media",
        )
    if img.size != (width, height):
        raise ProblemError(
            422, "Depth size mismatch", f"depth is {img.size[0]}x{img.size[1]}, image is {width}x{height}",
            slug="invalid-depth",
        )
    try:
        img.load()
    except Exception as exc:
        raise ProblemError(422, "Corrupt depth", "the depth PNG cannot be decoded", slug="invalid-depth") from exc
    _check_values(np.asarray(img).astype(np.float32) / PNG_DEPTH_SCALE, width, height)
    return CheckedDepth(format="png16", extension="png")
