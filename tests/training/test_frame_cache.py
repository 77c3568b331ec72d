"""The frame cache is built one scene at a time: rendering streams, warps are the named pairs' reprojections."""

from __future__ import annotations

import inspect

import numpy as np

from training.completion_dataset import MAX_HOLE_FRACTION, MIN_HOLE_FRACTION, FrameCache, render_scenes
from training.data.pairs import make_pair_sample
from training.train_config import SyntheticSection


def test_cache_from_streamed_scenes_holds_every_frame_and_the_named_warps() -> None:
    section = SyntheticSection(train_scenes=2, val_scenes=1, frames_per_scene=2, height=36, width=48, seed=3)
    stream = render_scenes(section, "train")
    assert inspect.isgenerator(stream)  # scenes are drawn lazily, not held as Frames all at once
    scenes = list(stream)
    assert len(scenes) == 2
    cache = FrameCache.from_scenes(iter(scenes))
    frames = [f for fs, _ in scenes for f in fs]
    assert len(cache) == len(frames) and cache.images.dtype == np.uint8 and cache.images.shape[1:] == (36, 48, 3)
    np.testing.assert_array_equal(cache.depths[-1], frames[-1].depth)
    assert cache.scene.tolist() == [s for s, (fs, _) in enumerate(scenes) for _ in fs]
    # Each kept warp is a listed pair's reprojection, and its hole fraction lies within the kept band.
    offsets = np.cumsum([0] + [len(fs) for fs, _ in scenes])
    listed = {(offsets[s] + i, offsets[s] + j) for s, (_, pairs) in enumerate(scenes) for i, j in pairs}
    assert len(cache.warp_known) > 0
    for m, (src, dst) in enumerate(zip(cache.warp_source, cache.warp_target, strict=True)):
        assert (int(src), int(dst)) in listed
        expected = make_pair_sample(frames[src], frames[dst])["sparse_depth"]
        np.testing.assert_array_equal(cache.warp_known[m], expected)
        valid = frames[dst].depth > 0
        hole = ((cache.warp_known[m] <= 0) & valid).sum() / valid.sum()
        assert MIN_HOLE_FRACTION <= hole <= MAX_HOLE_FRACTION
