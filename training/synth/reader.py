"""Synthetic scenes behind the same reader interface as the real datasets.

Scene ``i`` of a reader uses seed ``seed + i``; its kind alternates over ``kinds``. Seeds at or above
:data:`VALIDATION_SEED_START` are reserved for validation and benchmarks, so a training reader refuses to reach
them and ``split="val"`` shifts every seed into that range: the two splits can never share a scene.
Frames are rendered when accessed (deterministically); the few most recently used scenes are kept, so iterating
or interleaving a handful of scenes builds each layout and its textures once (about 0.07 s per scene).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Literal

import numpy as np

from core.camera import Camera
from training.data.frame import Frame, FrameSequence
from training.synth.cameras import FOV_RANGE_DEG
from training.synth.randomize import SceneRandomization
from training.synth.scene import KINDS, SceneKind, SyntheticScene

VALIDATION_SEED_START = 1_000_000
SCENE_CACHE = 4


class SyntheticReader:
    """``n_scenes`` procedural scenes with ``views_per_scene`` cameras each, rendered at ``height`` x ``width``."""

    def __init__(
        self,
        n_scenes: int,
        views_per_scene: int,
        height: int,
        width: int,
        seed: int = 0,
        *,
        kinds: Sequence[SceneKind] = KINDS,
        split: Literal["train", "val"] = "train",
        shadows: bool = True,
        fov_range_deg: tuple[float, float] = FOV_RANGE_DEG,
        randomization: SceneRandomization | None = None,
    ) -> None:
        if n_scenes < 1 or views_per_scene < 1:
            raise ValueError(f"n_scenes and views_per_scene must be >= 1, got {n_scenes}, {views_per_scene}")
        if not kinds or any(k not in KINDS for k in kinds):
            raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {kinds!r}")
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        first = seed + (VALIDATION_SEED_START if split == "val" else 0)
        if seed < 0 or (split == "train" and first + n_scenes > VALIDATION_SEED_START):
            raise ValueError(
                f"training seeds must lie in [0, {VALIDATION_SEED_START}); seed={seed}, n_scenes={n_scenes} "
                "reaches the validation range"
            )
        self.n_scenes, self.views_per_scene = n_scenes, views_per_scene
        self.height, self.width = height, width
        self.kinds = tuple(kinds)
        self.shadows = shadows
        self.fov_range_deg = fov_range_deg
        self.randomization = randomization
        self._seeds: dict[str, tuple[int, SceneKind]] = {}
        for i in range(n_scenes):
            kind = self.kinds[i % len(self.kinds)]
            self._seeds[f"synth-{kind}-{first + i}"] = (first + i, kind)
        self._cache: OrderedDict[str, tuple[SyntheticScene, list[Camera]]] = OrderedDict()

    def scene_ids(self) -> list[str]:
        return list(self._seeds)

    def scene(self, scene_id: str) -> SyntheticScene:
        return self._scene_and_cameras(scene_id)[0]

    def cameras(self, scene_id: str) -> list[Camera]:
        """The cameras of a scene's views (frame ``i`` is camera ``i``)."""
        return self._scene_and_cameras(scene_id)[1]

    def _scene_and_cameras(self, scene_id: str) -> tuple[SyntheticScene, list[Camera]]:
        if scene_id in self._cache:
            self._cache.move_to_end(scene_id)
            return self._cache[scene_id]
        if scene_id not in self._seeds:
            raise KeyError(f"unknown synthetic scene {scene_id!r}")
        seed, kind = self._seeds[scene_id]
        scene = SyntheticScene.random(seed, kind, self.randomization)
        rng = np.random.default_rng([seed, 7])
        cams = scene.sample_cameras(self.views_per_scene, rng, self.height, self.width, self.fov_range_deg)
        self._cache[scene_id] = (scene, cams)
        while len(self._cache) > SCENE_CACHE:
            self._cache.popitem(last=False)
        return scene, cams

    def frames(self, scene_id: str) -> FrameSequence:
        self._scene_and_cameras(scene_id)  # validate the id now, not on first access

        def load(frame_id: str) -> Frame:
            scene, cams = self._scene_and_cameras(scene_id)
            return scene.render_camera(cams[int(frame_id)], frame_id, shadows=self.shadows)

        return FrameSequence([f"{i:04d}" for i in range(self.views_per_scene)], load)
