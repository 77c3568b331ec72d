"""The one record every training data source yields, and the shape readers share.

A ``Frame`` is a photo with what we know of its geometry: metric z-depth (0 where unknown), intrinsics and a
camera-to-world pose in OpenCV axes (x right, y down, z forward; see :mod:`core.camera`). Real datasets, the
synthetic scene engine and image-only folders all produce Frames, so the mask generator, pair builder and trainer
never see a dataset-specific format.

Readers expose ``scene_ids()`` and ``frames(scene_id)``; ``frames`` returns a lazy sequence that decodes a frame
only when indexed, because a ScanNet scene holds thousands of frames and a trainer touches a few of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, overload

import numpy as np


@dataclass
class Frame:
    """One view. Arrays are numpy; depth is z along the optical axis in metres, 0 = invalid or unknown."""

    image: np.ndarray  # [H, W, 3] uint8 RGB
    depth: np.ndarray  # [H, W] float32 metres, 0 = invalid
    K: np.ndarray  # [3, 3] float32 pixel intrinsics (pixel centres at integers)
    cam_to_world: np.ndarray  # [4, 4] float32, OpenCV axes
    scene_id: str
    frame_id: str
    normals: np.ndarray | None = None  # [H, W, 3] float32 unit normals in camera axes (synthetic only), 0 = none

    def __post_init__(self) -> None:
        H, W = self.image.shape[:2]
        if self.image.dtype != np.uint8 or self.image.shape != (H, W, 3):
            raise ValueError(f"Frame.image must be uint8 [H, W, 3], got {self.image.dtype} {self.image.shape}")
        if self.depth.shape != (H, W):
            raise ValueError(f"Frame.depth must be [{H}, {W}] like the image, got {self.depth.shape}")
        if self.K.shape != (3, 3) or self.cam_to_world.shape != (4, 4):
            raise ValueError(
                f"Frame.K must be [3, 3] and cam_to_world [4, 4], got {self.K.shape}, {self.cam_to_world.shape}"
            )
        if self.normals is not None and self.normals.shape != (H, W, 3):
            raise ValueError(f"Frame.normals must be [{H}, {W}, 3], got {self.normals.shape}")
        self.depth = np.ascontiguousarray(self.depth, dtype=np.float32)
        self.K = np.asarray(self.K, dtype=np.float32)
        self.cam_to_world = np.asarray(self.cam_to_world, dtype=np.float32)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def valid(self) -> np.ndarray:
        """bool [H, W]: pixels with known depth."""
        return self.depth > 0

    def resized(self, height: int, width: int) -> Frame:
        """The same view at another resolution: bilinear image, nearest-neighbour depth (no mixed depths across
        edges) and intrinsics rescaled with pixel centres kept at integers."""
        from PIL import Image

        if (height, width) == (self.height, self.width):
            return self
        sx, sy = width / self.width, height / self.height
        image = np.asarray(Image.fromarray(self.image).resize((width, height), Image.BILINEAR))
        # Nearest sampling at the new pixel centres, computed explicitly so the mapping matches K exactly.
        ys = np.clip(np.floor((np.arange(height) + 0.5) / sy).astype(int), 0, self.height - 1)
        xs = np.clip(np.floor((np.arange(width) + 0.5) / sx).astype(int), 0, self.width - 1)
        depth = self.depth[ys[:, None], xs[None, :]]
        normals = None if self.normals is None else self.normals[ys[:, None], xs[None, :]]
        K = self.K.astype(np.float64).copy()
        K[0, 0] *= sx
        K[1, 1] *= sy
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        return replace(self, image=image, depth=depth, K=K.astype(np.float32), normals=normals)


def default_intrinsics(height: int, width: int, focal_px: float | None = None) -> np.ndarray:
    """K [3, 3] float32 with focal = image width (Invisible Stitch's choice for photos without intrinsics)."""
    f = float(width) if focal_px is None else float(focal_px)
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]], dtype=np.float32)


class FrameSequence(Sequence[Frame]):
    """A scene's frames, decoded on access: ``len``, indexing, slicing and iteration like a list."""

    def __init__(self, frame_ids: Sequence[str], load: Callable[[str], Frame]) -> None:
        self.frame_ids = list(frame_ids)
        self._load = load

    def __len__(self) -> int:
        return len(self.frame_ids)

    @overload
    def __getitem__(self, i: int) -> Frame: ...
    @overload
    def __getitem__(self, i: slice) -> list[Frame]: ...
    def __getitem__(self, i: int | slice) -> Frame | list[Frame]:
        if isinstance(i, slice):
            return [self._load(fid) for fid in self.frame_ids[i]]
        return self._load(self.frame_ids[i])

    def __iter__(self) -> Iterator[Frame]:
        for fid in self.frame_ids:
            yield self._load(fid)


class FrameReader(Protocol):
    """What every data source offers: scene ids and their (lazy) frames."""

    def scene_ids(self) -> list[str]: ...

    def frames(self, scene_id: str) -> Sequence[Frame]: ...
