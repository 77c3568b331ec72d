"""Which reader each ``--dataset`` name opens, and the pair-making wrappers the benchmark needs around them.

Real multi-view readers (ScanNet, Hypersim) already hold overlapping views with poses: the pair builder pairs
their frames directly. Two sources do not:

* the synthetic engine samples independent cameras per scene, which rarely overlap. :class:`SyntheticPairs`
  keeps its validation-split cameras as B and ray-casts, for each, one *moved* camera A of the same scene
  (orbited around the point B looks at, as Invisible Stitch's self-training masks), so both views have exact
  depth and A sees the true scene, occluders hidden from B included;
* single-view datasets (NYU) and the Middlebury pair have ground truth for one view only. For those A is a
  *virtual* camera that sees B's ground truth (:class:`VirtualMovePairs`; Middlebury's reader carries its own
  fixed moves): known depth is then B's own geometry as A sees it, and the hole is what A cannot see of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from core.errors import InputError

DATASETS = ("synthetic", "scannet", "hypersim", "nyu", "middlebury")

SYNTH_HEIGHT, SYNTH_WIDTH = 192, 256
SYNTH_VIEWS_PER_SCENE = 4
BENCHMARK_SEED_OFFSET = 500_000
"""Benchmark scenes are validation-split scenes from this seed on: never trained on, and disjoint from the first
validation scenes a trainer uses for model selection (seed 0 upwards), so selection cannot tune to them."""


MOVE_MAX_ANGLE_DEG = 25.0
MOVE_DIST_RANGE = (0.85, 1.05)


def _moved_pose(frame: Any, rng: np.random.Generator) -> np.ndarray:
    """A camera near ``frame``'s: Invisible Stitch's self-training motion (orbit about the point at the median
    depth, via :func:`training.data.masks.sample_warp_pose`), widened to +-25 degrees and 0.85-1.05 of the
    distance so that overlaps spread over the whole band instead of crowding near 1."""
    from training.data.masks import sample_warp_pose

    return sample_warp_pose(frame, rng, MOVE_MAX_ANGLE_DEG, MOVE_DIST_RANGE)


class SyntheticPairs:
    """Validation-split synthetic scenes: frames ``NNNN`` (sampled cameras) and ``NNNN-moved`` (their A views)."""

    def __init__(
        self,
        n_scenes: int,
        views_per_scene: int = SYNTH_VIEWS_PER_SCENE,
        height: int = SYNTH_HEIGHT,
        width: int = SYNTH_WIDTH,
        seed: int = 0,
    ) -> None:
        from training.synth import SyntheticReader

        self.inner = SyntheticReader(
            n_scenes, views_per_scene, height, width, BENCHMARK_SEED_OFFSET + seed, split="val"
        )
        self.seed = seed
        self._last_base: tuple[str, str, Any] | None = None

    def scene_ids(self) -> list[str]:
        return self.inner.scene_ids()

    def _base(self, scene_id: str, frame_id: str) -> Any:
        """B frames, memoised once: a moved A is rendered from its B's pose just before B itself is needed."""
        if self._last_base is None or self._last_base[:2] != (scene_id, frame_id):
            base = self.inner.frames(scene_id)
            self._last_base = (scene_id, frame_id, base[base.frame_ids.index(frame_id)])
        return self._last_base[2]

    def candidate_pairs(self, scene_id: str) -> list[tuple[str, str]]:
        return [(f"{b}-moved", b) for b in self.inner.frames(scene_id).frame_ids]

    def frames(self, scene_id: str) -> Sequence[Any]:
        from training.data.frame import FrameSequence

        base = self.inner.frames(scene_id)
        ids = list(base.frame_ids)
        ids += [f"{b}-moved" for b in base.frame_ids]
        return FrameSequence(ids, lambda fid: self._load(scene_id, fid))

    def _load(self, scene_id: str, frame_id: str) -> Any:
        from training.synth.cameras import in_free_space

        if not frame_id.endswith("-moved"):
            return self._base(scene_id, frame_id)

        b_id = frame_id.removesuffix("-moved")
        b = self._base(scene_id, b_id)
        scene = self.inner.scene(scene_id)
        rng = np.random.default_rng([self.seed, 11, int(b_id), _stable_hash(scene_id)])
        for _ in range(20):  # a few draws until the moved camera stands in free space
            pose = _moved_pose(b, rng)
            if in_free_space(scene.layout, pose[:3, 3]):
                break
        # Only A's depth is used (methods see B's photo), so A skips the costly shadow rays.
        return scene.render(b.K, pose, b.height, b.width, frame_id=frame_id, shadows=False)


def _stable_hash(text: str) -> int:
    """A process-independent 31-bit hash (python's ``hash`` of a str changes between runs)."""
    h = 0
    for ch in text.encode():
        h = (h * 131 + ch) % 2_147_483_647
    return h


class VirtualMovePairs:
    """Any reader whose ground truth has no second view: each frame B gets one virtual A that sees B's depth.

    A's depth (and image) are B's rendered into a camera moved as for synthetic pairs (seeded per frame).
    """

    def __init__(self, inner: Any, seed: int = 0) -> None:
        self.inner = inner
        self.seed = seed

    def scene_ids(self) -> list[str]:
        return list(self.inner.scene_ids())

    def candidate_pairs(self, scene_id: str) -> list[tuple[str, str]]:
        from benchmark.pairs import frame_ids

        return [(f"{b}-virtual", b) for b in frame_ids(self.inner.frames(scene_id))]

    def frames(self, scene_id: str) -> Sequence[Any]:
        from benchmark.pairs import frame_ids
        from training.data.frame import FrameSequence

        base = self.inner.frames(scene_id)
        ids = frame_ids(base)
        index = {fid: i for i, fid in enumerate(ids)}

        def load(fid: str) -> Any:
            if not fid.endswith("-virtual"):
                return base[index[fid]]
            from training.data.middlebury import render_frame

            b_id = fid.removesuffix("-virtual")
            b = base[index[b_id]]
            rng = np.random.default_rng([self.seed, 13, index[b_id], _stable_hash(scene_id)])
            return render_frame(b, b.K, _moved_pose(b, rng), fid)

        return FrameSequence([*ids, *(f"{b}-virtual" for b in ids)], load)


def _import(path: str) -> Callable[..., Any]:
    import importlib

    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"the reader {path} is not available in this installation: {exc}") from exc


def open_reader(
    dataset: str, root: str | None, *, limit: int | None = None, seed: int = 0, max_side: int | None = None
) -> Any:
    """The pair-ready reader for ``--dataset`` (``root`` = the dataset's folder; unused for synthetic/middlebury).

    Synthetic scenes are generated on demand, enough for ``limit`` pairs with margin for rejected candidates.
    """
    if dataset == "synthetic":
        wanted = limit if limit is not None else 50
        n_scenes = max(2, math.ceil(1.5 * wanted / SYNTH_VIEWS_PER_SCENE))
        return SyntheticPairs(n_scenes, seed=seed)
    if dataset == "middlebury":
        return _import("training.data.middlebury:MiddleburyReader")(root, max_side=max_side)
    if dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    if not root:
        raise InputError(f"--root DIR is required for --dataset {dataset}")
    readers = {
        "scannet": "training.data.scannet:ScanNetReader",
        "hypersim": "training.data.hypersim:HypersimReader",
        "nyu": "training.data.nyu:NYUv2Reader",
    }
    reader = _import(readers[dataset])(root)
    return VirtualMovePairs(reader, seed=seed) if dataset == "nyu" else reader
