"""Self-training and distillation samples from unlabelled photos.

Invisible Stitch teaches completion on photos without depth: a teacher predicts the photo's depth, the depth is
lifted to points (focal = image width), re-rendered from a slightly moved camera, and whatever that camera cannot
see becomes the hole mask; the network must then complete the teacher's depth from the rest. Here the teacher is
a ``DepthEstimator`` registry spec when configured (distillation, e.g. a hub model on a GPU machine), else the
model's own EMA weights as a monocular estimator (self-training).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.errors import InputError
from training.completion_dataset import Batch

log = logging.getLogger(__name__)

def load_photos(source: str) -> list[np.ndarray]:
    """``"skimage"`` (scikit-image's bundled colour photos) or a folder of images -> uint8 RGB arrays."""
    if source == "skimage":
        from skimage import data

        # Never data.stereo_motorcycle(): the Middlebury motorcycle is the benchmark's real test scene.
        photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
        return [np.ascontiguousarray(p[..., :3]).astype(np.uint8) for p in photos]
    from training.data.images import ImageFolderReader

    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise InputError(f"self_training.images: {source!r} is neither 'skimage' nor a folder")
    reader = ImageFolderReader(folder)
    if not reader.scene_ids():
        raise InputError(f"self_training.images: no images in {folder}")
    return [reader.load(sid).image for sid in reader.scene_ids()]


class SelfTrainingSource:
    """Draws warp-masked completion samples whose target is the teacher's (or the EMA model's) depth."""

    def __init__(self, photos: list[np.ndarray], *, crop: tuple[int, int], teacher=None) -> None:
        self.photos = photos
        self.crop = crop
        self.teacher = teacher

    @classmethod
    def from_config(cls, cfg, *, crop: tuple[int, int]) -> SelfTrainingSource:
        teacher = None
        if cfg.teacher:
            from core.backends.registry import build_depth_estimator

            teacher = build_depth_estimator(cfg.teacher, device="auto")
        photos = load_photos(cfg.self_training.images)
        log.info("self-training on %d photos, targets from %s", len(photos), cfg.teacher or "the EMA model")
        return cls(photos, crop=crop, teacher=teacher)

    def _crop(self, rng: np.random.Generator) -> np.ndarray:
        photo = self.photos[int(rng.integers(len(self.photos)))]
        h, w = self.crop
        H, W = photo.shape[:2]
        scale = max(h / H, w / W) * rng.uniform(1.0, 1.6)
        size = (max(w, round(W * scale)), max(h, round(H * scale)))
        img = np.asarray(Image.fromarray(photo).resize(size, Image.BILINEAR))
        top, left = int(rng.integers(size[1] - h + 1)), int(rng.integers(size[0] - w + 1))
        img = img[top : top + h, left : left + w]
        return np.ascontiguousarray(img[:, ::-1] if rng.random() < 0.5 else img)

    @torch.no_grad()
    def _depths(self, images: list[np.ndarray], model: torch.nn.Module) -> list[np.ndarray]:
        if self.teacher is not None:
            return [np.asarray(self.teacher(im), dtype=np.float32) for im in images]
        device = next(model.parameters()).device
        rgb = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().to(device) / 255.0
        zeros = torch.zeros_like(rgb[:, :1])
        return list(model(rgb, zeros, zeros)[:, 0].cpu().numpy().astype(np.float32))

    def batch(self, rng: np.random.Generator, n: int, model: torch.nn.Module) -> Batch:
        from training.data.frame import Frame, default_intrinsics
        from training.data.masks import warp_mask

        images = [self._crop(rng) for _ in range(n)]
        samples = []
        for image, depth in zip(images, self._depths(images, model), strict=True):
            h, w = depth.shape
            frame = Frame(image=image, depth=depth, K=default_intrinsics(h, w),
                          cam_to_world=np.eye(4, dtype=np.float32), scene_id="self-training", frame_id="0")
            hole = warp_mask(frame, rng)
            samples.append({"rgb": image, "known_depth": np.where(hole, 0, depth).astype(np.float32),
                            "target": depth, "completion": np.bool_(True)})
        return Batch.collate(samples)
