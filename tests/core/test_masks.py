"""Crack closing, inpaint-mask morphology and depth-edge snapping."""

from __future__ import annotations

import numpy as np

from core.masks import depth_edges, dilate, erode, fill_from_nearest, snap_depth_edges, thin_cracks


def test_thin_cracks_are_found_but_holes_are_not() -> None:
    cov = np.ones((40, 40), bool)
    cov[10, 5:30] = False  # a one-pixel crack
    cov[20:35, 20:35] = False  # a real hole
    cracks = thin_cracks(cov, 1)
    assert cracks[10, 5:30].all()
    assert not cracks[24:31, 24:31].any()
    filled = fill_from_nearest(np.where(cov, 7.0, 0.0), cov, cracks)
    assert (filled[10, 5:30] == 7.0).all()


def test_image_border_is_not_a_hole() -> None:
    cov = np.ones((20, 20), bool)
    assert not thin_cracks(cov, 1).any()
    assert erode(cov, 2).all()
    cov[:, :3] = False
    assert not erode(cov, 2)[:, :5].any() and erode(cov, 2)[:, 6:].all()
    assert dilate(~cov, 2)[:, :5].all() and not dilate(~cov, 2)[:, 6:].any()


def test_depth_ramp_is_an_edge_and_snaps_to_either_side() -> None:
    d = np.full((30, 40), 2.0, np.float32)
    d[:, 20:] = 5.0
    d[:, 17:23] = np.geomspace(2.0, 5.0, 8)[1:7]  # a smooth network-like ramp: the rubber sheet
    tilted = (3.0 + np.linspace(0, 0.3, 40)[None] * np.ones((30, 1))).astype(np.float32)  # a gently tilted wall
    edges = depth_edges(d, focal_px=400.0)
    assert edges[:, 17:23].all() and not edges[:, :12].any()
    assert not depth_edges(tilted, focal_px=400.0).any()
    assert np.array_equal(snap_depth_edges(tilted, 400.0), tilted)
    snapped = snap_depth_edges(d, 400.0)
    assert np.allclose(np.unique(np.round(snapped, 4)), [2.0, 5.0])  # nothing left in between
    assert np.allclose(snapped[:, :17], 2.0) and np.allclose(snapped[:, 23:], 5.0)


def test_unknown_depth_is_never_an_edge() -> None:
    d = np.full((10, 10), 3.0, np.float32)
    d[:, 5:] = 0.0
    assert not depth_edges(d, 10.0).any()
    assert np.array_equal(snap_depth_edges(d, 10.0), d)
