"""SRN ShapeNet-cars layout (the Splatter Image paper's benchmark) as a reader of Frames and a splatter cache.

Layout (Sitzmann et al.'s SRN release)::

    <root>/<split>/<object>/rgb/000000.png      colour (RGB, or RGBA composited on white)
    <root>/<split>/<object>/pose/000000.txt     4x4 camera-to-world, 16 numbers, OpenCV axes (x right, y down,
                                                z forward), as every SRN loader reads them
    <root>/<split>/<object>/intrinsics.txt      first line ``f cx cy 0``; other lines unused

``split`` is a folder name (``cars_train``) or a short name (``train`` finds ``cars_train`` too). The
intrinsics were written for the 512-px renders while the released PNGs are 128 px; the focal length is scaled
by ``width / (2 cx)`` when the principal point says the image was resized. SRN has no depth: frames carry depth 0
(unknown), so only the RGB and predicted-depth variants of the splatter network can use it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import InputError
from training.data.frame import Frame, FrameSequence


def split_dir(root: str | Path, split: str) -> Path:
    root = Path(root)
    for name in (split, f"cars_{split}"):
        if (root / name).is_dir():
            return root / name
    raise InputError(f"SRN root {root} has no split folder {split!r} (nor 'cars_{split}')")


def read_intrinsics(path: Path, width: int, height: int) -> np.ndarray:
    """K [3, 3] for an image of ``width`` x ``height`` from an SRN ``intrinsics.txt``."""
    try:
        f, cx, cy = (float(v) for v in path.read_text().split("\n", 1)[0].split()[:3])
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: expected a first line 'f cx cy 0' ({exc})") from exc
    scale = width / (2.0 * cx) if cx > 0 else 1.0
    if abs(scale - 1.0) < 0.05:  # written for this very size
        scale = 1.0
    K = np.array([[f * scale, 0, (width - 1) / 2], [0, f * scale, (height - 1) / 2], [0, 0, 1]], np.float32)
    if abs(cx * scale - width / 2) > 0.05 * width or abs(cy * scale - height / 2) > 0.05 * height:
        K[0, 2], K[1, 2] = cx * scale, cy * scale  # an off-centre principal point is kept as written
    return K


def read_pose(path: Path) -> np.ndarray:
    try:
        values = np.array(path.read_text().split(), dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: expected 16 numbers (a 4x4 camera-to-world pose): {exc}") from exc
    if values.size != 16:
        raise InputError(f"{path}: expected 16 numbers (a 4x4 camera-to-world pose), got {values.size}")
    return values.reshape(4, 4).astype(np.float32)


def read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            white = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, im)
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


class SRNReader:
    """Objects of one SRN split; each object's views are Frames (depth 0 = unknown)."""

    def __init__(self, root: str | Path, split: str = "train") -> None:
        self.dir = split_dir(root, split)
        self._objects = sorted(p.name for p in self.dir.iterdir() if (p / "rgb").is_dir() and (p / "pose").is_dir())
        if not self._objects:
            raise InputError(f"{self.dir} holds no SRN objects (<object>/rgb and <object>/pose folders)")

    def scene_ids(self) -> list[str]:
        return list(self._objects)

    def frame_ids(self, scene_id: str) -> list[str]:
        obj = self.dir / scene_id
        ids = sorted(p.stem for p in (obj / "rgb").glob("*.png"))
        return [i for i in ids if (obj / "pose" / f"{i}.txt").is_file()]

    def frames(self, scene_id: str) -> FrameSequence:
        obj = self.dir / scene_id
        if not (obj / "rgb").is_dir():
            raise KeyError(f"unknown SRN object {scene_id!r}")

        def load(frame_id: str) -> Frame:
            image = read_rgb(obj / "rgb" / f"{frame_id}.png")
            H, W = image.shape[:2]
            return Frame(image=image, depth=np.zeros((H, W), np.float32),
                         K=read_intrinsics(obj / "intrinsics.txt", W, H),
                         cam_to_world=read_pose(obj / "pose" / f"{frame_id}.txt"), scene_id=scene_id,
                         frame_id=frame_id)

        return FrameSequence(self.frame_ids(scene_id), load)


def srn_cache(root: str | Path, split: str, targets: int, n_scenes: int | None = None, seed: int = 0,
              depth_model: str | None = "gld8tr"):  # noqa: ANN201 - training.splatter_data.ViewCache
    """A splatter :class:`~training.splatter_data.ViewCache` of up to ``n_scenes`` objects: per object a random
    input view and ``targets`` other views (seeded), poses relative to the input camera."""
    from training.splatter_data import ViewCache, predict_depths

    reader = SRNReader(root, split)
    rng = np.random.default_rng(seed)
    images, Ks, poses = [], [], []
    for sid in reader.scene_ids()[: n_scenes or None]:
        frames = reader.frames(sid)
        if len(frames) < 1 + targets:
            continue
        pick = rng.choice(len(frames), 1 + targets, replace=False)
        views = [frames[int(i)] for i in pick]
        inv0 = np.linalg.inv(views[0].cam_to_world.astype(np.float64))
        images.append(np.stack([v.image for v in views]))
        Ks.append(np.stack([v.K for v in views]))
        poses.append(np.stack([inv0 @ v.cam_to_world.astype(np.float64) for v in views]).astype(np.float32))
    if not images:
        raise InputError(f"no SRN object in {reader.dir} has {1 + targets} views")
    imgs = np.stack(images)
    n, V, H, W = imgs.shape[:4]
    cache = ViewCache(imgs, np.zeros((n, V, H, W), np.float32), np.stack(Ks), np.stack(poses),
                      np.zeros((n, H, W), np.float32))
    if depth_model:
        cache.pred_depth = predict_depths(cache, depth_model)
    return cache
