"""The Middlebury motorcycle reader: calibration, which view the disparity belongs to, and the right camera."""

import numpy as np
import pytest

from training.data.middlebury import BASELINE_M, DOFFS_PX, FOCAL_PX, MiddleburyReader, disparity_to_depth


@pytest.fixture(scope="module")
def reader():
    return MiddleburyReader()


def test_depth_follows_the_calibration_and_infinite_disparity_is_no_ground_truth():
    disp = np.array([[50.0, np.inf, np.nan]])
    depth = disparity_to_depth(disp)
    assert depth[0, 0] == pytest.approx(BASELINE_M * FOCAL_PX / (50.0 + DOFFS_PX), rel=1e-6)
    assert depth[0, 1] == 0 and depth[0, 2] == 0


def test_left_frame_has_the_ground_truth_and_only_left_is_a_target(reader):
    frames = reader.frames("motorcycle")
    left = frames[0]
    assert left.frame_id == "left" and left.image.shape == (500, 741, 3)
    valid = left.depth > 0
    assert 0.85 < valid.mean() < 0.99
    assert 1.5 < np.median(left.depth[valid]) < 4.0  # a motorcycle in a garage, metres
    assert reader.ground_truth_frames("motorcycle") == ["left"]
    assert all(b == "left" and a != "left" for a, b in reader.candidate_pairs("motorcycle"))


def test_left_depth_rendered_into_the_right_camera_matches_the_real_right_photo(reader):
    """The disparity is the left view's and the right camera sits at +baseline: rendering the left photo with
    its depth into that camera reproduces the real right photo; the mirrored camera (-baseline) does not."""
    from training.data.middlebury import camera_pose, intrinsics, render_frame

    frames = reader.frames("motorcycle")
    left, right = frames[0], frames[1]
    assert right.frame_id == "right"
    seen = right.depth > 0
    assert 0.7 < seen.mean() < 0.95
    err = np.abs(right.image[seen].astype(float) - render_frame(left, right.K, right.cam_to_world, "r").image[seen])
    mirrored = render_frame(left, intrinsics(-DOFFS_PX), camera_pose(-BASELINE_M, 0, 0, 0), "m")
    seen_m = mirrored.depth > 0
    err_m = np.abs(right.image[seen_m].astype(float) - mirrored.image[seen_m])
    assert err.mean() < 8.0
    assert err_m.mean() > 2 * err.mean()
