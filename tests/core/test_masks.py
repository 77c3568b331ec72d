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


def test_depth_step_is_an_edge_and_snaps_to_either_side() -> None:
    d = np.full((30, 40), 2.0, np.float32)
    d[:, 20:] = 5.0
    d[:, 18:22] = np.linspace(2.0, 5.0, 6)[1:5]  # a smooth network-like ramp: the rubber sheet
    ramp_slope = np.full((30, 40), 3.0, np.float32) + np.linspace(0, 0.3, 40)[None]  # a gently tilted wall
    edges = depth_edges(d, focal_px=400.0)
    assert edges[:, 18:22].all()
    assert not depth_edges(ramp_slope, focal_px=400.0).any()
    snapped = snap_depth_edges(d, edges)
    assert set(np.unique(snapped).tolist()) == {2.0, 5.0}  # nothing left in between
    assert (snapped[:, :15] == 2.0).all() and (snapped[:, 25:] == 5.0).all()


def test_unknown_depth_is_never_an_edge() -> None:
    d = np.full((10, 10), 3.0, np.float32)
    d[:, 5:] = 0.0
    assert not depth_edges(d, 10.0).any()
