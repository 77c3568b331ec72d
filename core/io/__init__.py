"""Reading user inputs and writing scene files, with the validation the CLI and the web API share.

* :mod:`core.io.image` -- decode a photo from bytes or a path (max pixels, any mode -> RGB uint8).
* :mod:`core.io.depth` -- read a depth map (16-bit PNG millimetres, ``.npy`` metres, PFM) and check its size.
* :mod:`core.io.ply` -- binary little-endian PLY point clouds (``plyfile``).
* :mod:`core.io.atomic` -- write-to-temp-then-rename, so a failed run never leaves a half-written output.
* :mod:`core.io.sidecar` -- the JSON that travels beside every PLY (cameras, backends, timings, versions).
"""

from core.io.atomic import atomic_path
from core.io.depth import load_depth
from core.io.image import DEFAULT_MAX_PIXELS, crop_to_multiple, load_image, resize_max_side
from core.io.ply import read_ply, write_ply

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "atomic_path",
    "crop_to_multiple",
    "load_depth",
    "load_image",
    "read_ply",
    "resize_max_side",
    "write_ply",
]
