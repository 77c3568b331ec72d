"""Training and validation scenes for the feed-forward Gaussian network: one input view, nearby held-out views.

Each sample is one synthetic scene seen from an input camera plus ``targets`` cameras that stand a little to the
side and look at the same content (an orbit around the median depth, so the new views are parallax, not
rotation: a pure rotation would not depend on depth at all and could not tell the depth variants apart). Every
view comes with its exact depth; the input view also carries the depth the project's depth network predicts from
its RGB alone (ablation variant (b)).

Ray-casting is the slow part, so a split is rendered once into an ``.npz`` cache keyed by its recipe; a
training step only indexes arrays. Everything is in the input camera's frame (input pose = identity).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

CACHE_VERSION = 1


@dataclass
class ViewCache:
    """``images`` [N,V,H,W,3] uint8 (view 0 = input), ``depths`` [N,V,H,W] float32 (0 = sky / none),
    ``K`` [N,V,3,3], ``poses`` [N,V,4,4] camera-to-input-camera, ``pred_depth`` [N,H,W] float32 (depth network
    on view 0, or zeros when not computed)."""

    images: np.ndarray
    depths: np.ndarray
    K: np.ndarray
    poses: np.ndarray
    pred_depth: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def save(self, path: Path) -> None:
        import io

        from core.io.atomic import write_bytes_atomic

        buf = io.BytesIO()
        np.savez_compressed(buf, **{f.name: getattr(self, f.name) for f in fields(self)})
        write_bytes_atomic(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> ViewCache:
        with np.load(path) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})

    def downsampled(self, factor: int) -> ViewCache:
        """The cache at 1/``factor`` resolution: box-averaged colour (intrinsics as ``Intrinsics.scaled``) and a
        z-buffer-like depth per block (harmonic mean of a block on one surface, else its nearest valid depth)."""
        if factor == 1:
            return self
        N, V, H, W = self.depths.shape
        h, w = H // factor, W // factor
        if h * factor != H or w * factor != W:
            raise ValueError(f"downsample factor {factor} does not divide the cache size {H}x{W}")

        img = self.images.reshape(N, V, h, factor, w, factor, 3).astype(np.float32).mean(axis=(3, 5))
        images = np.clip(img + 0.5, 0, 255).astype(np.uint8)

        def pool_depth(d: np.ndarray) -> np.ndarray:
            b = d.reshape(*d.shape[:-2], h, factor, w, factor).swapaxes(-3, -2).reshape(*d.shape[:-2], h, w, -1)
            valid = b > 0
            inf = np.where(valid, b, np.inf)
            near, far = inf.min(-1), np.where(valid, b, 0).max(-1)
            harmonic = valid.sum(-1) / np.where(valid, 1.0 / np.where(valid, b, 1.0), 0).sum(-1).clip(1e-12)
            same_surface = valid.all(-1) & (far <= 1.1 * near)
            return np.where(same_surface, harmonic, np.where(np.isfinite(near), near, 0)).astype(np.float32)

        K = self.K.astype(np.float64).copy()
        s = 1.0 / factor
        K[..., 0, 0] *= s
        K[..., 1, 1] *= s
        K[..., 0, 2] = (K[..., 0, 2] + 0.5) * s - 0.5
        K[..., 1, 2] = (K[..., 1, 2] + 0.5) * s - 0.5
        return ViewCache(images, pool_depth(self.depths), K.astype(np.float32), self.poses,
                         pool_depth(self.pred_depth))

    def subset(self, index: np.ndarray | slice) -> ViewCache:
        return ViewCache(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def batch(self, index: np.ndarray, input_depth: str, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """Tensors of scenes ``index``: ``rgb`` [B,V,3,H,W] in [0,1], ``depth`` [B,V,H,W], ``K`` [B,V,3,3],
        ``poses`` [B,V,4,4] and ``input_depth`` [B,1,H,W] (true / predicted / zeros for "none")."""
        imgs = torch.from_numpy(self.images[index]).float().div_(255.0).permute(0, 1, 4, 2, 3)
        depth = torch.from_numpy(self.depths[index])
        if input_depth == "true":
            din = depth[:, 0:1]
        elif input_depth == "predicted":
            din = torch.from_numpy(self.pred_depth[index])[:, None]
        elif input_depth == "none":
            din = torch.zeros_like(depth[:, 0:1])
        else:
            raise ValueError(f"input_depth must be 'none', 'predicted' or 'true', got {input_depth!r}")
        out = {"rgb": imgs, "depth": depth, "K": torch.from_numpy(self.K[index]),
               "poses": torch.from_numpy(self.poses[index]), "input_depth": din}
        return {k: v.to(device) for k, v in out.items()}


def orbit_pose(base: np.ndarray, median_depth: float, rng: np.random.Generator) -> np.ndarray:
    """A camera-to-world pose beside ``base`` looking at the point ``median_depth`` ahead of it.

    Sideways 8-25% of the median depth (either side), up/down up to 6%, forward/back up to 10%: the parallax of
    a small orbit, as the published model's training views.
    """
    from core.camera import look_at

    R, t = base[:3, :3].astype(np.float64), base[:3, 3].astype(np.float64)
    side = rng.uniform(0.08, 0.25) * rng.choice([-1.0, 1.0])
    local = np.array([side, rng.uniform(-0.06, 0.06), rng.uniform(-0.1, 0.1)]) * median_depth
    target = t + R[:, 2] * median_depth
    eye = t + R @ local
    up = -R[:, 1]
    return look_at(torch.tensor(eye, dtype=torch.float32), torch.tensor(target, dtype=torch.float32),
                   torch.tensor(up, dtype=torch.float32)).numpy()


def render_split(n_scenes: int, targets: int, height: int, width: int, seed: int, split: str) -> ViewCache:
    """Ray-cast ``n_scenes`` scenes of ``split`` with ``1 + targets`` views each (see the module docstring)."""
    from tqdm import tqdm

    from training.synth import SyntheticReader
    from training.synth.cameras import probe_ok

    reader = SyntheticReader(n_scenes, 1, height, width, seed=seed, split=split)
    images, depths, Ks, poses = [], [], [], []
    for k, sid in enumerate(tqdm(reader.scene_ids(), desc=f"render splatter {split}", unit="scene")):
        scene = reader.scene(sid)
        base = reader.frames(sid)[0]
        valid = base.depth > 0
        med = float(np.median(base.depth[valid])) if valid.any() else 5.0
        med = min(med, 30.0)
        rng = np.random.default_rng([seed, k, 13])
        views = [base]
        for _ in range(targets * 6):
            if len(views) == 1 + targets:
                break
            pose = orbit_pose(base.cam_to_world, med, rng)
            if not probe_ok(scene.layout, torch.from_numpy(pose)):
                continue
            view = scene.render(base.K, pose, height, width, frame_id=f"t{len(views)}")
            if (view.depth > 0).mean() >= 0.3:
                views.append(view)
        if len(views) < 1 + targets:
            continue  # no usable neighbour: skip the scene (deterministically)
        inv0 = np.linalg.inv(base.cam_to_world.astype(np.float64))
        images.append(np.stack([v.image for v in views]))
        depths.append(np.stack([v.depth for v in views]).astype(np.float32))
        Ks.append(np.stack([v.K for v in views]).astype(np.float32))
        poses.append(np.stack([(inv0 @ v.cam_to_world.astype(np.float64)) for v in views]).astype(np.float32))
    n = len(images)
    log.info("splatter %s: %d of %d scenes usable", split, n, n_scenes)
    return ViewCache(np.stack(images), np.stack(depths), np.stack(Ks), np.stack(poses),
                     np.zeros((n, height, width), np.float32))


def predict_depths(cache: ViewCache, depth_model: str = "gld8tr") -> np.ndarray:
    """Monocular depth [N,H,W] of every input view from the project's depth network (``core.backends``)."""
    from core.backends.network_depth import build_estimator, build_shipped_estimator

    if depth_model == "gld8tr":
        estimator = build_shipped_estimator(device="cpu")
    else:
        estimator = build_estimator(depth_model.removeprefix("ckpt:"), device="cpu")
    return np.stack([np.asarray(estimator(img[0]), dtype=np.float32) for img in cache.images])


def splatter_cache(n_scenes: int, targets: int, height: int, width: int, seed: int, split: str,
                   cache_dir: Path, depth_model: str = "gld8tr") -> ViewCache:
    """Render (or reuse) the cache of a split, with the depth network's predictions filled in."""
    from training.synth import ENGINE_VERSION

    recipe = {"version": CACHE_VERSION, "engine": ENGINE_VERSION, "split": split, "scenes": n_scenes,
              "targets": targets, "size": [height, width], "seed": seed, "depth_model": depth_model}
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    path = Path(cache_dir) / f"splatter-{split}-{key}.npz"
    if path.is_file():
        log.info("splatter cache %s: reusing %s", split, path)
        return ViewCache.load(path)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    cache = render_split(n_scenes, targets, height, width, seed, split)
    cache.pred_depth = predict_depths(cache, depth_model)
    cache.save(path)
    (Path(cache_dir) / f"splatter-{split}-{key}.json").write_text(json.dumps(recipe, indent=2) + "\n")
    log.info("splatter cache %s: %d scenes -> %s", split, len(cache), path)
    return cache
