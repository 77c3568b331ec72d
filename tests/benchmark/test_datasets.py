"""Pair sources: moved synthetic cameras ray-cast in the true scene, virtual cameras for single-view data."""

import numpy as np
import pytest
from bench_scene import AnalyticReader

from benchmark.datasets import SyntheticPairs, VirtualMovePairs, open_reader
from benchmark.pairs import PairConfig, select_pairs
from core.errors import InputError


def test_synthetic_pairs_are_validation_scenes_with_a_moved_camera_in_free_space():
    reader = SyntheticPairs(n_scenes=1, views_per_scene=2, height=48, width=64)
    (scene_id,) = reader.scene_ids()
    assert int(scene_id.rsplit("-", 1)[1]) >= 1_500_000  # benchmark seeds: validation split, past the trainer's
    assert reader.candidate_pairs(scene_id) == [("0000-moved", "0000"), ("0001-moved", "0001")]
    frames = reader.frames(scene_id)
    b, a = frames[0], frames[frames.frame_ids.index("0000-moved")]
    assert b.depth.shape == a.depth.shape == (48, 64) and (b.depth > 0).mean() > 0.3
    assert not np.allclose(a.cam_to_world, b.cam_to_world)
    scene = reader.inner.scene(scene_id)
    from training.synth.cameras import in_free_space

    assert in_free_space(scene.layout, a.cam_to_world[:3, 3])
    again = SyntheticPairs(n_scenes=1, views_per_scene=2, height=48, width=64).frames(scene_id)
    np.testing.assert_array_equal(again[frames.frame_ids.index("0000-moved")].depth, a.depth)  # deterministic


class SingleViews(AnalyticReader):
    """Scenes of one frame each, like NYU: no second view with ground truth."""

    def __init__(self):
        super().__init__(n=1)


def test_virtual_moves_give_single_view_data_pairs_with_ground_truth_only_in_b():
    reader = VirtualMovePairs(SingleViews(), seed=0)
    assert reader.candidate_pairs("wall") == [("0-virtual", "0")]
    pairs = select_pairs(reader, PairConfig(overlap_min=0.05, overlap_max=1.0, max_side=None))
    assert len(pairs) == 1 and pairs[0].frame_b == "0" and 0.05 <= pairs[0].overlap < 1.0


def test_open_reader_checks_the_dataset_and_its_root(tmp_path):
    with pytest.raises(InputError, match="--root"):
        open_reader("hypersim", None)
    with pytest.raises(InputError, match="unknown dataset"):
        open_reader("kitti", str(tmp_path))
    assert isinstance(open_reader("synthetic", None, limit=8), SyntheticPairs)
