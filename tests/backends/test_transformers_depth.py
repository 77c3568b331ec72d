"""``transformers:<dir>`` depth estimators built from tiny saved checkpoints, run through the registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.backends import registry
from core.backends.base import DepthEstimator
from core.backends.transformers_depth import inverse_relative_to_depth, output_kind
from core.errors import InputError


@pytest.mark.parametrize("fixture", ["tiny_dpt_dir", "tiny_depth_anything_dir"])
def test_relative_models_give_positive_depth_in_range(fixture: str, photo: np.ndarray, request) -> None:
    path: Path = request.getfixturevalue(fixture)
    est = registry.build("depth_estimator", f"transformers:{path}", near=0.5, far=8.0)
    assert isinstance(est, DepthEstimator)
    assert est.kind == "inverse_relative"
    depth = est(photo)
    assert depth.shape == photo.shape[:2] and depth.dtype == np.float32
    assert np.isfinite(depth).all()
    assert depth.min() >= 0.5 - 1e-5 and depth.max() <= 8.0 + 1e-4
    assert depth.std() > 0  # an untrained net still varies with the image
    np.testing.assert_array_equal(est(photo), depth)  # resident model, repeatable calls


def test_metric_depth_anything_is_passed_through(tmp_path: Path, photo: np.ndarray) -> None:
    from core.backends.hf_tiny import build_tiny_depth_anything

    path = build_tiny_depth_anything(tmp_path / "da-metric", metric=True)
    est = registry.build("depth_estimator", f"transformers:{path}")
    assert est.kind == "metric"
    depth = est(photo)
    assert depth.shape == photo.shape[:2]
    assert (depth > 0).all() and depth.max() <= 10.0  # sigmoid head scaled by max_depth


def test_inverse_relative_conversion_orders_depth_by_disparity() -> None:
    disparity = np.linspace(0.0, 1.0, 101, dtype=np.float32).reshape(1, -1)
    depth = inverse_relative_to_depth(disparity, near=1.0, far=10.0, percentiles=(0.0, 100.0))
    assert np.all(np.diff(depth[0]) < 0)  # more disparity = closer
    assert depth[0, 0] == pytest.approx(10.0) and depth[0, -1] == pytest.approx(1.0)
    # linear in inverse depth: the middle disparity lands at the harmonic midpoint
    assert 1.0 / depth[0, 50] == pytest.approx(0.5 * (1.0 + 0.1), rel=1e-5)


def test_unknown_family_is_rejected() -> None:
    class Config:
        model_type = "something_new"

    with pytest.raises(InputError, match="something_new"):
        output_kind(Config())


def test_wrong_image_is_an_input_error(tiny_dpt_dir: Path) -> None:
    est = registry.build("depth_estimator", f"transformers:{tiny_dpt_dir}")
    with pytest.raises(InputError):
        est(np.zeros((10, 10), np.uint8))
