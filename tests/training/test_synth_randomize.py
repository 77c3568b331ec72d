"""Domain randomisation: off means unchanged, on changes the look and never the geometry; no test-set pixels."""

from __future__ import annotations

import numpy as np
import torch

from training.synth import SyntheticReader
from training.synth.randomize import SceneRandomization, bundled_photos, camera_effects


def _frame(randomization: SceneRandomization | None):
    reader = SyntheticReader(1, 1, 36, 48, seed=5, randomization=randomization)
    return reader.frames(reader.scene_ids()[0])[0]


def test_randomisation_changes_the_look_not_the_depth_and_off_is_the_default_engine() -> None:
    plain = _frame(None)
    np.testing.assert_array_equal(_frame(SceneRandomization()).image, plain.image)  # inactive = default engine
    photo = _frame(SceneRandomization(photo_textures=1.0, lighting=True))
    np.testing.assert_array_equal(photo.depth, plain.depth)
    assert np.abs(photo.image.astype(int) - plain.image.astype(int)).mean() > 5


def test_bundled_photos_never_include_the_middlebury_test_scene() -> None:
    from skimage.data import stereo_motorcycle

    left, right, _ = stereo_motorcycle()
    photos = bundled_photos()
    assert len(photos) >= 8
    for p in photos:
        for test_view in (left, right):
            if p.shape[:2] == test_view.shape[:2]:
                assert not np.allclose(p, test_view / 255.0, atol=1e-3)


def test_camera_effects_keep_shape_and_change_pixels() -> None:
    image = _frame(None).image
    out = camera_effects(image, np.random.default_rng(0))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)


def test_sharded_batches_deal_out_the_single_process_batch() -> None:
    from training.completion_dataset import CompletionSampler, FrameCache

    rng = np.random.default_rng(0)
    depths = rng.uniform(1, 5, (3, 16, 20)).astype(np.float32)
    cache = FrameCache(images=rng.integers(0, 256, (3, 16, 20, 3)).astype(np.uint8), depths=depths,
                       scene=np.zeros(3, np.int64), warp_known=np.zeros((0, 16, 20), np.float32),
                       warp_source=np.zeros(0, np.int64), warp_target=np.zeros(0, np.int64))
    sampler = CompletionSampler(cache, crop=(12, 16), p_completion=0.5, p_warp=0.0, rescale=(0.5, 2.0), seed=1)
    full = sampler.batch(7, 4)
    parts = [sampler.batch(7, 4, shard=(r, 2)) for r in range(2)]
    for r, part in enumerate(parts):
        assert torch.equal(part.rgb, full.rgb[r::2]) and torch.equal(part.target, full.target[r::2])
