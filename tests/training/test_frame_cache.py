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


def test_shift_neighbours_are_translated_cameras_and_only_the_training_split_gets_them() -> None:
    from training.completion_dataset import SHIFT_BASELINE_RANGE

    section = SyntheticSection(train_scenes=1, val_scenes=1, frames_per_scene=2, height=36, width=48, seed=5,
                               neighbour_motions=("turn", "shift"))
    (frames, pairs), = list(render_scenes(section, "train"))
    ids = [f.frame_id for f in frames]
    shifted = [i for i, fid in enumerate(ids) if fid.endswith("s")]
    assert len(shifted) == 2  # one per camera
    for i in shifted:
        base = next(frames[j] for j in range(i, -1, -1) if not ids[j].endswith(("n", "s")))
        assert (ids.index(base.frame_id), i) in pairs and (i, ids.index(base.frame_id)) in pairs
        # the camera moved by a baseline in the recipe's band of the base view's median depth, barely turned
        rel = np.linalg.inv(base.cam_to_world.astype(np.float64)) @ frames[i].cam_to_world.astype(np.float64)
        baseline = float(np.hypot(rel[0, 3], rel[1, 3])) / float(np.median(base.depth[base.depth > 0]))
        assert SHIFT_BASELINE_RANGE[0] - 1e-4 <= baseline <= SHIFT_BASELINE_RANGE[1] + 1e-4
        assert np.degrees(np.arccos(np.clip((np.trace(rel[:3, :3]) - 1) / 2, -1, 1))) <= 7.1
    (val_frames, _), = list(render_scenes(section, "val"))
    assert not any(f.frame_id.endswith("s") for f in val_frames)  # validation stays comparable across recipes
    turn_only = section.model_copy(update={"neighbour_motions": ("turn",)})
    (plain, _), = list(render_scenes(turn_only, "val"))
    np.testing.assert_array_equal(plain[-1].depth, val_frames[-1].depth)


def test_the_neighbour_recipe_is_part_of_the_training_cache_key(tmp_path) -> None:
    from training.completion_dataset import synthetic_cache

    tiny = SyntheticSection(train_scenes=1, val_scenes=1, frames_per_scene=1, height=24, width=32, seed=2)
    synthetic_cache(tiny, "train", tmp_path)
    synthetic_cache(tiny.model_copy(update={"neighbour_motions": ("turn", "shift")}), "train", tmp_path)
    assert len(list(tmp_path.glob("synthetic-train-*.npz"))) == 2
