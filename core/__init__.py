"""Gld8tr-3dcn core: one photo (+ prompt) in, a coloured 3D scene out.

Everything here is pure library code: importable without the web service, the broker or the object store.

Conventions, stated once for the whole project:

* Camera axes are OpenCV's: x right, y down, z forward (RDF). Pixel (u, v) has its centre at integer
  coordinates; ``x = (u - cx) z / fx`` and ``y = (v - cy) z / fy``.
* Poses are camera-to-world 4x4 matrices (``cam_to_world``); world coordinates are those of the first (input)
  camera, so the input camera sits at the origin looking down +z.
* Images are ``uint8`` RGB arrays ``[H, W, 3]`` at the boundaries between modules; depth is ``float32`` metres
  ``[H, W]`` with ``0`` meaning "unknown".
"""

__version__ = "0.1.0"
