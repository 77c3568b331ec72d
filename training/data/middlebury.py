"""Middlebury 2014 "motorcycle" (the pair that ships with scikit-image) as a reader of Frames.

``skimage.data.stereo_motorcycle()`` returns the left and right photos (500 x 741, downsampled by 4) and the
*left* view's disparity (the docstring's example reads as if it were the right's, but matching pixels shows
``left[y, x] == right[y, x - disp[y, x]]``, Middlebury's ``disp0`` convention). Only the left view therefore
has ground truth. Depth follows the calibration: ``z = baseline * focal / (disp + doffs)``; infinite or NaN
disparity is "no ground truth" (depth 0). The right camera is the left one moved by the baseline along +x, with
its principal point shifted by ``doffs`` (the two images were rectified with different principal points).

Frames of the one scene ``motorcycle``:

* ``left``: the real photo with real ground-truth depth, the only frame a benchmark may score against
  (:meth:`MiddleburyReader.ground_truth_frames`).
* ``right``: the real right photo; its depth is the left ground truth rendered into the right camera
  (z-buffered), so it is exact where the right camera sees a surface the left one saw and 0 elsewhere.
* ``move_*``: virtual cameras (the left camera moved by a few baselines, or turned) whose image and depth are the
  left photo and ground truth rendered into them. They exist because one stereo pair gives one benchmark pair with
  a small hole; moving the camera further uncovers the disocclusions a scene generator actually meets.

How the benchmark uses it, and why that is honest: B is always ``left`` (real photo, real ground truth); A is
``right`` or a ``move_*`` camera, whose depth is nothing but the ground truth as A sees it. Rendering A's depth
back into B covers exactly the left pixels that A also sees; the rest -- surfaces occluded from A or outside its
view -- is the hole a method must fill from the real left photo. Known depth is therefore exact (a best case for
every method alike); the hole shapes are real disocclusions of real geometry.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np

from training.data.frame import Frame, FrameSequence

SCENE_ID = "motorcycle"
FOCAL_PX = 994.978
CX, CY = 311.193, 254.877
DOFFS_PX = 31.086
BASELINE_M = 0.193001

VIRTUAL_MOVES: tuple[tuple[str, float, float, float, float], ...] = (
    # name, tx, ty, tz (metres, left camera axes: x right, y down, z forward), yaw (degrees, + turns right)
    ("move_x+2b", 2 * BASELINE_M, 0.0, 0.0, 0.0),
    ("move_x+3b", 3 * BASELINE_M, 0.0, 0.0, 0.0),
    ("move_x-1b", -BASELINE_M, 0.0, 0.0, 0.0),
    ("move_x-2b", -2 * BASELINE_M, 0.0, 0.0, 0.0),
    ("move_y+1b", 0.0, BASELINE_M, 0.0, 0.0),
    ("move_y-1b", 0.0, -BASELINE_M, 0.0, 0.0),
    ("move_xy+1b", BASELINE_M, BASELINE_M, 0.0, 0.0),
    ("move_z+0.5", 0.0, 0.0, 0.5, 0.0),
    ("move_yaw+10", 0.0, 0.0, 0.0, 10.0),
    ("move_yaw-10", 0.0, 0.0, 0.0, -10.0),
    ("move_orbit+15", 0.6, 0.0, 0.1, -15.0),
    ("move_orbit-15", -0.6, 0.0, 0.1, 15.0),
    ("move_orbit+30", 1.5, 0.0, 0.4, -30.0),
    ("move_orbit-30", -1.5, 0.0, 0.4, 30.0),
)
"""A cameras beyond the real right view: translations of one to three baselines, a step forward, turns, and two
orbits around the motorcycle (about a point 3 m ahead, by 15 and 30 degrees). With the benchmark's defaults the
overlaps with ``left`` span about 0.45-0.9."""


def intrinsics(principal_shift_px: float = 0.0) -> np.ndarray:
    """K [3, 3] float32 of the downsampled images; the right camera's principal point sits ``doffs`` further."""
    return np.array([[FOCAL_PX, 0, CX + principal_shift_px], [0, FOCAL_PX, CY], [0, 0, 1]], dtype=np.float32)


def disparity_to_depth(disp: np.ndarray) -> np.ndarray:
    """Metric z-depth [H, W] float32 from left disparity; non-finite disparity becomes 0 (no ground truth)."""
    disp = np.asarray(disp, dtype=np.float64)
    ok = np.isfinite(disp) & (disp + DOFFS_PX > 0)
    depth = np.zeros(disp.shape, dtype=np.float64)
    depth[ok] = BASELINE_M * FOCAL_PX / (disp[ok] + DOFFS_PX)
    return depth.astype(np.float32)


def camera_pose(tx: float, ty: float, tz: float, yaw_deg: float) -> np.ndarray:
    """cam_to_world [4, 4] float32 of a camera at (tx, ty, tz) turned by ``yaw_deg`` (left camera = world)."""
    from core.camera import pose_from_yaw_pitch

    return pose_from_yaw_pitch(yaw_deg, 0.0, (tx, ty, tz)).numpy().astype(np.float32)


def render_frame(source: Frame, K: np.ndarray, cam_to_world: np.ndarray, frame_id: str) -> Frame:
    """``source``'s coloured depth rendered (z-buffered splats) into another camera of the same image size.

    The splats are :func:`training.data.lift.lift`'s, the same surface model the pair and mask builders render,
    plus the colours, so a virtual frame is a plausible photo rather than a black image.
    """
    import torch

    from core.camera import invert_pose
    from core.render import render_points_world_size
    from training.data.lift import lift

    pts, radius = lift(source)
    colors = torch.from_numpy(source.image[source.depth > 0])  # same row-major order as lift's points
    out = render_points_world_size(
        pts,
        colors,
        radius,
        torch.from_numpy(K),
        invert_pose(torch.from_numpy(cam_to_world)),
        source.height,
        source.width,
    )
    return Frame(
        image=out.image.numpy().astype(np.uint8),
        depth=out.depth.numpy(),
        K=K,
        cam_to_world=cam_to_world,
        scene_id=source.scene_id,
        frame_id=frame_id,
    )


class MiddleburyReader:
    """Reader of the motorcycle scene: ``left`` (ground truth), ``right`` and the virtual ``move_*`` frames.

    ``root`` is accepted for symmetry with the other readers and ignored: the data ship inside the scikit-image
    wheel. ``max_side`` downsamples the
    photos (and scales the calibration) before any view is rendered, for quick runs.
    """

    def __init__(self, root: str | None = None, *, virtual_moves: bool = True, max_side: int | None = None) -> None:
        self.root = root
        self._moves = VIRTUAL_MOVES if virtual_moves else ()
        self.max_side = max_side

    def scene_ids(self) -> list[str]:
        return [SCENE_ID]

    def ground_truth_frames(self, scene_id: str) -> list[str]:
        """Frames whose depth is measured rather than rendered from another frame: the only valid targets."""
        self._check(scene_id)
        return ["left"]

    def frame_ids(self, scene_id: str) -> list[str]:
        self._check(scene_id)
        return ["left", "right", *(m[0] for m in self._moves)]

    def frames(self, scene_id: str) -> Sequence[Frame]:
        return FrameSequence(self.frame_ids(scene_id), self._load)

    def candidate_pairs(self, scene_id: str) -> list[tuple[str, str]]:
        """``(A, B)`` frame-id pairs worth scoring: every other camera as A, the ground-truth left view as B."""
        return [(a, "left") for a in self.frame_ids(scene_id) if a != "left"]

    def _check(self, scene_id: str) -> None:
        if scene_id != SCENE_ID:
            raise KeyError(f"unknown Middlebury scene {scene_id!r}; this reader holds {SCENE_ID!r} only")

    @cached_property
    def _stereo(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from skimage.data import stereo_motorcycle

        left, right, disp = stereo_motorcycle()
        return np.ascontiguousarray(left), np.ascontiguousarray(right), disp

    def _limit(self, frame: Frame) -> Frame:
        if self.max_side is None or max(frame.height, frame.width) <= self.max_side:
            return frame
        f = self.max_side / max(frame.height, frame.width)
        return frame.resized(round(frame.height * f), round(frame.width * f))

    @cached_property
    def _left(self) -> Frame:
        left, _, disp = self._stereo
        frame = Frame(
            image=left,
            depth=disparity_to_depth(disp),
            K=intrinsics(),
            cam_to_world=np.eye(4, dtype=np.float32),
            scene_id=SCENE_ID,
            frame_id="left",
        )
        return self._limit(frame)

    def _K(self, principal_shift_px: float = 0.0) -> np.ndarray:
        """Intrinsics at the working size: the full-size calibration scaled like the left frame (pixel centres at
        integers, as :meth:`Frame.resized` does)."""
        H, W = self._stereo[0].shape[:2]
        sx, sy = self._left.width / W, self._left.height / H
        K = intrinsics(principal_shift_px).astype(np.float64)
        K[0, 0], K[1, 1] = K[0, 0] * sx, K[1, 1] * sy
        K[0, 2], K[1, 2] = (K[0, 2] + 0.5) * sx - 0.5, (K[1, 2] + 0.5) * sy - 0.5
        return K.astype(np.float32)

    def _load(self, frame_id: str) -> Frame:
        if frame_id == "left":
            return self._left
        if frame_id == "right":
            rendered = render_frame(self._left, self._K(DOFFS_PX), camera_pose(BASELINE_M, 0, 0, 0), "right")
            right = self._stereo[1]
            if right.shape[:2] != rendered.image.shape[:2]:
                from PIL import Image

                size = (rendered.width, rendered.height)
                right = np.asarray(Image.fromarray(right).resize(size, Image.BILINEAR))
            rendered.image = right
            return rendered
        for name, tx, ty, tz, yaw in self._moves:
            if name == frame_id:
                return render_frame(self._left, self._K(), camera_pose(tx, ty, tz, yaw), name)
        raise KeyError(f"unknown Middlebury frame {frame_id!r}")
