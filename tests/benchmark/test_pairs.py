"""Pair construction on an analytic scene: known depth, holes, overlap band, manifest caching."""

import json

import numpy as np
import pytest
from bench_scene import analytic_frame

from benchmark.pairs import Pair, PairConfig, SampleStore, load_or_build_manifest, make_sample, overlap_of, select_pairs
from core.errors import InputError


def test_same_camera_covers_everything_with_the_true_depth():
    f = analytic_frame(0.0, "0")
    s = make_sample(f, f, Pair("wall", "0", "0", 0.0), consistency=0.05)
    assert overlap_of(s) > 0.99
    np.testing.assert_allclose(s.known_depth[s.known_mask], s.gt[s.known_mask], rtol=1e-5)


def test_sideways_move_uncovers_the_wall_behind_the_panel_and_the_image_border():
    a, b = analytic_frame(0.4, "a"), analytic_frame(0.0, "b")
    s = make_sample(a, b, Pair("wall", "a", "b", 0.0), consistency=0.05)
    # Known depth is exact wherever it is known.
    np.testing.assert_allclose(s.known_depth[s.known_mask], s.gt[s.known_mask], rtol=1e-5)
    hole = s.hole[24]  # a row through the panel
    # B: wall at column u is x = (u - 31.5) * 4 / 60; panel (z = 2, |x| <= 0.5) spans columns 17..46.
    # A, 0.4 m to the right, sees the wall from x = 0.4 - 31.5 * 4 / 60 = -1.7, i.e. B's columns >= 6; and the
    # panel's left edge hides the wall from x = 0.4 - 0.9 * 2 = -1.4 on, i.e. B's columns 11..16 (6 px).
    assert hole[:6].all()  # outside A's view
    assert not hole[7:10].any()  # wall both see
    assert hole[11:17].all()  # disoccluded by the panel
    assert not hole[18:46].any()  # the panel itself
    assert not hole[47:].any()  # wall right of the panel: A sees it too
    assert s.hole.sum() == pytest.approx(48 * 6 + 30 * 6, abs=48)  # border strip + disoccluded strip rows
    assert 0.8 < overlap_of(s) < 0.9


def test_select_pairs_respects_the_band_and_is_deterministic(analytic_reader):
    config = PairConfig(overlap_min=0.5, overlap_max=0.9, offsets=(3, -3, 1), max_side=None)
    pairs = select_pairs(analytic_reader, config)
    assert pairs and all(0.5 <= p.overlap <= 0.9 for p in pairs)
    assert len({p.frame_b for p in pairs}) == len(pairs)  # one pair per B
    assert pairs == select_pairs(analytic_reader, config)
    assert len(select_pairs(analytic_reader, config, limit=2)) == 2


def test_manifest_is_reused_and_rebuilt_when_the_settings_change(tmp_path, analytic_reader):
    config = PairConfig(overlap_min=0.5, overlap_max=0.9, offsets=(3, -3), max_side=None)
    store = SampleStore(tmp_path / "samples")
    path = tmp_path / "pairs.json"
    first = load_or_build_manifest(path, analytic_reader, "analytic", None, config, 3, store)
    assert len(first.pairs) == 3 and len(list((tmp_path / "samples").glob("*.npz"))) == 3
    loads = analytic_reader.loads
    again = load_or_build_manifest(path, analytic_reader, "analytic", None, config, 3, store)
    assert again == first and analytic_reader.loads == loads  # nothing decoded
    other = load_or_build_manifest(path, analytic_reader, "analytic", None, PairConfig(offsets=(2,)), 3, store)
    assert other.manifest_id != first.manifest_id
    assert json.loads(path.read_text())["manifest_id"] == other.manifest_id
    stored = store.load(first.pairs[0])
    assert stored is None or first.pairs[0] in other.pairs  # old samples were cleared with the old manifest


def test_sample_store_round_trip(tmp_path):
    f = analytic_frame(0.2, "a")
    s = make_sample(f, analytic_frame(0.0, "b"), Pair("wall", "a", "b", 0.7), consistency=0.05)
    store = SampleStore(tmp_path)
    store.save(s)
    back = store.load(s.pair)
    for name in ("image", "known_depth", "known_mask", "gt", "K"):
        np.testing.assert_array_equal(getattr(back, name), getattr(s, name))


def test_bad_band_is_an_input_error():
    with pytest.raises(InputError):
        PairConfig(overlap_min=0.9, overlap_max=0.4)
