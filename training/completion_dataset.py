"""Training and validation samples for the two tasks of the depth network.

* **monocular**: RGB in, depth channels empty, target = ground-truth depth of the whole frame;
* **completion**: RGB + the depth known from elsewhere + its mask; target = the full depth. Known depth comes
  either from another view of the same scene warped into this one (the holes are then exactly the regions a
  moving camera discovers, adjacent to known geometry as in the pipeline) or from the frame's own depth with
  random blobs removed.

Rendering synthetic scenes is the expensive part, so every frame and every view-to-view warp is computed once
into an ``.npz`` frame cache; a training step only crops, flips and masks arrays. Sampling is a pure function of
``(seed, step)`` so a resumed run sees exactly the batches an uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

CACHE_VERSION = 2
"""Bump when the cache layout or the way it is computed changes, so old caches are rebuilt."""

MIN_HOLE_FRACTION = 0.03
MAX_HOLE_FRACTION = 0.75


@dataclass
class FrameCache:
    """All rendered frames of one split plus the cross-view warps between frames of the same scene.

    ``images`` [N,H,W,3] uint8, ``depths`` [N,H,W] float32 (0 invalid), ``scene`` [N] int, ``warp_known``
    [M,H,W] float32 (known depth of frame ``warp_target[m]`` seen from ``warp_source[m]``; 0 = hole).
    """

    images: np.ndarray
    depths: np.ndarray
    scene: np.ndarray
    warp_known: np.ndarray
    warp_source: np.ndarray
    warp_target: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **self.__dict__)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> FrameCache:
        with np.load(path) as data:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})

    @classmethod
    def from_scenes(cls, scenes: Iterable[tuple[list, list[tuple[int, int]] | None]]) -> FrameCache:
        """Build from ``(frames, pairs)`` per scene, where ``frames`` are :class:`training.data.frame.Frame`.

        ``pairs`` lists the (source, target) frame indices to warp; None: every ordered pair (each warp costs a
        point-cloud render, so callers with many frames name the useful pairs). ``scenes`` may be a generator:
        each scene is reduced to its compact arrays before the next is drawn, so rendering thousands of scenes
        holds the cache in memory rather than every ``Frame`` with all its fields.
        """
        from training.data.pairs import make_pair_sample

        images, depths, scene_ids, known, src, dst = [], [], [], [], [], []
        for s, (frames, pairs) in enumerate(scenes):
            base = len(images)
            for f in frames:
                images.append(np.asarray(f.image, dtype=np.uint8))
                depths.append(np.asarray(f.depth, dtype=np.float32))
                scene_ids.append(s)
            n = len(frames)
            todo = pairs if pairs is not None else [(i, j) for i in range(n) for j in range(n) if i != j]
            for i, j in todo:
                warped = make_pair_sample(frames[i], frames[j])["sparse_depth"]
                valid = frames[j].depth > 0
                hole = float(((warped <= 0) & valid).sum()) / max(1, int(valid.sum()))
                if MIN_HOLE_FRACTION <= hole <= MAX_HOLE_FRACTION:
                    known.append(warped.astype(np.float32))
                    src.append(base + i)
                    dst.append(base + j)
        h, w = depths[0].shape
        return cls(
            images=np.stack(images),
            depths=np.stack(depths),
            scene=np.asarray(scene_ids, dtype=np.int64),
            warp_known=np.stack(known) if known else np.zeros((0, h, w), np.float32),
            warp_source=np.asarray(src, dtype=np.int64),
            warp_target=np.asarray(dst, dtype=np.int64),
        )


def neighbour_pose(pose: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A "next view" of the pipeline: the camera yawed 8-30 degrees either way, pitched a little and moved a few
    centimetres, so the warp masks look like the ones generation meets (a new strip plus disocclusions)."""
    from core.camera import pose_from_yaw_pitch

    yaw = float(rng.uniform(8, 30) * rng.choice([-1, 1]))
    pitch = float(rng.uniform(-6, 6))
    t = tuple(float(v) for v in rng.normal(0, 0.08, 3))
    return (pose.astype(np.float64) @ pose_from_yaw_pitch(yaw, pitch, t).double().numpy()).astype(np.float32)


SHIFT_BASELINE_RANGE = (0.05, 0.25)
"""A ``shift`` neighbour's baseline, as a fraction of its camera's median depth: from a stereo rig's (a 0.2 m
baseline at 3 m is 0.07) to a few steps sideways."""


def shift_pose(pose: np.ndarray, median_depth: float, rng: np.random.Generator) -> np.ndarray:
    """A "next view" with parallax: the camera translated by 5-25% of its median depth in a random direction of
    its image plane (plus a forward or backward third of that at most) and turned at most 5 degrees.

    A turned camera (:func:`neighbour_pose`) mostly uncovers a strip beyond the old frame's edge; a translated one
    uncovers the background beside every depth edge, the disocclusions a user's own camera path and real stereo
    pairs leave. Their true depth is the far side's, which the two kinds of hole teach differently.
    """
    from core.camera import pose_from_yaw_pitch

    baseline = float(rng.uniform(*SHIFT_BASELINE_RANGE)) * median_depth
    angle = float(rng.uniform(0.0, 2.0 * math.pi))
    forward = float(rng.uniform(-1.0, 1.0)) * baseline / 3.0
    t = (baseline * math.cos(angle), baseline * math.sin(angle), forward)
    yaw, pitch = (float(v) for v in rng.uniform(-5.0, 5.0, 2))
    return (pose.astype(np.float64) @ pose_from_yaw_pitch(yaw, pitch, t).double().numpy()).astype(np.float32)


def _neighbour(scene, base, motion: str, rng: np.random.Generator):
    """One rendered neighbour of ``base`` for ``motion``, or None when eight draws all failed (a camera behind a
    wall, or one that stares into a wall or the sky)."""
    from training.synth.cameras import in_free_space

    median_depth = float(np.median(base.depth[base.depth > 0])) if motion == "shift" else 0.0
    for _ in range(8):
        if motion == "turn":
            pose = neighbour_pose(base.cam_to_world, rng)
        else:
            pose = shift_pose(base.cam_to_world, median_depth, rng)
            if not in_free_space(scene.layout, pose[:3, 3]):
                continue
        suffix = "n" if motion == "turn" else "s"
        nb = scene.render(base.K, pose, base.height, base.width, frame_id=f"{base.frame_id}{suffix}")
        if nb.valid.mean() > 0.5:
            return nb
    return None


def neighbour_motions(section, split: str) -> tuple[str, ...]:
    """The neighbour kinds of ``split``: the recipe's for training; validation keeps the turn alone, so that its
    scenes, and the runs selected on them, stay comparable across recipes."""
    motions = tuple(getattr(section, "neighbour_motions", ("turn",)))
    return motions if split == "train" else ("turn",)


def render_scenes(section, split: str) -> Iterator[tuple[list, list[tuple[int, int]]]]:
    """Frames of ``split``, one scene at a time -- the reader's cameras, each followed by one rendered neighbour
    view per motion of :func:`neighbour_motions` -- with the pairs worth warping: each camera with each of its
    neighbours, both ways (independent cameras rarely overlap)."""
    from tqdm import tqdm

    from training.synth import SyntheticReader

    n_scenes = section.train_scenes if split == "train" else section.val_scenes
    reader = SyntheticReader(n_scenes, section.frames_per_scene, section.height, section.width,
                             seed=section.seed, split=split, randomization=scene_randomization(section, split))
    motions = neighbour_motions(section, split)
    for k, sid in enumerate(tqdm(reader.scene_ids(), desc=f"render {split} scenes", unit="scene")):
        scene = reader.scene(sid)
        rng = np.random.default_rng([section.seed, k, 11])
        frames: list = []
        scene_pairs: list[tuple[int, int]] = []
        for base in reader.frames(sid):
            frames.append(base)
            b = len(frames) - 1
            for motion in motions:
                nb = _neighbour(scene, base, motion, rng)
                if nb is not None:
                    frames.append(nb)
                    scene_pairs += [(b, len(frames) - 1), (len(frames) - 1, b)]
        yield frames, scene_pairs


def scene_randomization(section, split: str):
    """The training split's :class:`~training.synth.randomize.SceneRandomization` (None when off, and always for
    validation, whose scenes keep the engine's default look so that runs stay comparable)."""
    from training.synth.randomize import SceneRandomization

    options = SceneRandomization(photo_textures=getattr(section, "photo_textures", 0.0),
                                 lighting=getattr(section, "lighting", False))
    return options if split == "train" and options.active else None


def synthetic_cache(section, split: str, cache_dir: Path) -> FrameCache:
    """Render (or reuse) the frame cache of ``split`` ("train" or "val") for a ``SyntheticSection``.

    The validation split uses the synthetic engine's reserved validation seeds, so it never shares a scene with
    training.
    """
    from training.synth import ENGINE_VERSION

    recipe = {
        "version": CACHE_VERSION,
        "engine": ENGINE_VERSION,
        "split": split,
        "scenes": section.train_scenes if split == "train" else section.val_scenes,
        "frames": section.frames_per_scene,
        "size": [section.height, section.width],
        "seed": section.seed,
    }
    randomization = scene_randomization(section, split)
    if randomization is not None:  # absent when off, so caches of earlier runs keep their keys
        recipe["randomization"] = {"photo_textures": randomization.photo_textures, "lighting": randomization.lighting}
    motions = neighbour_motions(section, split)
    if motions != ("turn",):  # likewise
        recipe["neighbours"] = list(motions)
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir / f"synthetic-{split}-{key}.npz"
    if path.is_file():
        log.info("frame cache %s: reusing %s", split, path)
        return FrameCache.load(path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = FrameCache.from_scenes(render_scenes(section, split))
    cache.save(path)
    (cache_dir / f"synthetic-{split}-{key}.json").write_text(json.dumps(recipe, indent=2) + "\n")
    log.info("frame cache %s: %d frames, %d warps -> %s", split, len(cache), len(cache.warp_known), path)
    return cache


# --------------------------------------------------------------------------------------------------- masks
def blob_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Random smooth blobs (True = hole) covering about 10-50% of the frame."""
    gh, gw = max(2, height // 16), max(2, width // 16)
    noise = torch.from_numpy(rng.standard_normal((1, 1, gh, gw)).astype(np.float32))
    smooth = torch.nn.functional.interpolate(noise, size=(height, width), mode="bicubic", align_corners=False)[0, 0]
    frac = rng.uniform(0.1, 0.5)
    return (smooth >= torch.quantile(smooth.flatten(), 1 - frac)).numpy()


# ------------------------------------------------------------------------------------------------- samples
@dataclass
class Batch:
    """Tensors [B,C,H,W]: ``rgb`` in [0,1]; ``known_depth`` metres (0 unknown); ``known`` / ``target_valid`` /
    ``hole`` bool; ``target`` metres; ``completion`` [B] bool (False = monocular sample); ``weight`` [B]."""

    rgb: torch.Tensor
    known_depth: torch.Tensor
    known: torch.Tensor
    target: torch.Tensor
    target_valid: torch.Tensor
    hole: torch.Tensor
    completion: torch.Tensor
    weight: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        """The same batch with every tensor on ``device``."""
        return Batch(**{k: v.to(device) for k, v in self.__dict__.items()})

    @staticmethod
    def collate(samples: list[dict[str, np.ndarray]]) -> Batch:
        def stack(key: str) -> torch.Tensor:
            return torch.from_numpy(np.stack([s[key] for s in samples]))

        rgb = stack("rgb").permute(0, 3, 1, 2).float() / 255.0
        known_depth = stack("known_depth")[:, None].float()
        known = known_depth > 0
        target = stack("target")[:, None].float()
        valid = target > 0
        completion = torch.tensor([bool(s["completion"]) for s in samples])
        return Batch(
            rgb=rgb.contiguous(),
            known_depth=known_depth,
            known=known,
            target=target,
            target_valid=valid,
            hole=valid & ~known & completion[:, None, None, None],
            completion=completion,
            weight=torch.tensor([float(s.get("weight", 1.0)) for s in samples]),
        )


def _crop(arrays: list[np.ndarray], top: int, left: int, h: int, w: int, flip: bool) -> list[np.ndarray]:
    out = []
    for a in arrays:
        c = a[top : top + h, left : left + w]
        out.append(np.ascontiguousarray(c[:, ::-1] if flip else c))
    return out


class CompletionSampler:
    """Draws training samples from a frame cache; ``batch(step)`` is deterministic in ``(seed, step)``."""

    def __init__(
        self,
        cache: FrameCache,
        *,
        crop: tuple[int, int],
        p_completion: float,
        p_warp: float,
        rescale: tuple[float, float],
        seed: int,
        camera_effects: float = 0.0,
    ) -> None:
        self.cache = cache
        self.crop = crop
        self.p_completion = p_completion
        self.p_warp = p_warp if len(cache.warp_known) else 0.0
        self.rescale = rescale
        self.seed = seed
        self.camera_effects = camera_effects

    def rng(self, step: int, stream: int = 0, rank: int | None = None) -> np.random.Generator:
        """The generator of ``(seed, step, stream)``; ``rank`` gives each data-parallel process its own stream."""
        return np.random.default_rng([self.seed, step, stream] + ([] if rank is None else [rank]))

    def sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.cache
        completion = rng.random() < self.p_completion
        warp = completion and rng.random() < self.p_warp
        if warp:
            m = int(rng.integers(len(c.warp_known)))
            idx = int(c.warp_target[m])
            known = c.warp_known[m]
        else:
            idx = int(rng.integers(len(c)))
            known = None
        image, depth = c.images[idx], c.depths[idx]
        if completion and known is None:
            known = np.where(blob_mask(rng, *depth.shape), 0.0, depth).astype(np.float32)
        if known is None:
            known = np.zeros_like(depth)
        H, W = depth.shape
        h, w = min(self.crop[0], H), min(self.crop[1], W)
        top, left = int(rng.integers(H - h + 1)), int(rng.integers(W - w + 1))
        image, depth, known = _crop([image, depth, known], top, left, h, w, flip=bool(rng.random() < 0.5))
        if self.camera_effects > 0 and rng.random() < self.camera_effects:
            from training.synth.randomize import camera_effects

            image = camera_effects(image, rng)
        if completion:
            lo, hi = self.rescale
            k = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
            depth, known = depth * k, known * k
        return {"rgb": image, "known_depth": known, "target": depth, "completion": np.bool_(completion)}

    def batch(self, step: int, size: int, shard: tuple[int, int] = (0, 1)) -> Batch:
        """The ``size`` samples of ``step``, or with ``shard=(rank, world)`` this rank's share of them (every
        ``world``-th): all ranks together train on exactly the batch a single process draws."""
        rng = self.rng(step)
        samples = [self.sample(rng) for _ in range(size)]
        rank, world = shard
        return Batch.collate(samples[rank::world])


def validation_batches(cache: FrameCache, batch_size: int, seed: int = 0) -> list[Batch]:
    """A fixed validation set: every warp pair as a completion sample (holes = newly revealed regions) and every
    frame as a monocular sample (whole-frame metrics), full resolution, no augmentation."""
    samples = []
    for m in range(len(cache.warp_known)):
        t = int(cache.warp_target[m])
        samples.append({"rgb": cache.images[t], "known_depth": cache.warp_known[m], "target": cache.depths[t],
                        "completion": np.bool_(True)})
    for i in range(len(cache)):
        samples.append({"rgb": cache.images[i], "known_depth": np.zeros_like(cache.depths[i]),
                        "target": cache.depths[i], "completion": np.bool_(False)})
    return [Batch.collate(samples[i : i + batch_size]) for i in range(0, len(samples), batch_size)]
