"""Camera recovery from one depth map: the field of view and the depth shift that a point cloud's shape implies.

A depth map lifted with a wrong focal length stretches or squashes the scene; a depth map known only up to an
unknown shift (affine-invariant depth of relative models) bends its planes. Following LeReS' point-cloud module
(arXiv 2208.13241), :class:`PointCloudCameraNet` looks at the distorted cloud and predicts both corrections;
:mod:`core.camera_recovery.classical` holds the closed-form and geometric alternatives used as baselines, and
:func:`estimate_camera` is the one entry point the pipeline calls.

Conventions: OpenCV axes, principal point at the image centre, square pixels. Inside this package pixel
coordinates are normalised by half the image width (``u_n = (u - cx) / (W / 2)``), so a focal length is
``f_n = 1 / tan(fov_x / 2)`` independent of resolution, and depth is normalised by its 98th percentile.
"""

from core.camera_recovery.geometry import (
    DistortedCloud,
    apply_shift,
    distort,
    focal_from_fov,
    fov_from_focal,
    normalised_grid,
    undistort,
    unproject_normalised,
)
from core.camera_recovery.net import CameraNetConfig, PointCloudCameraNet
from core.camera_recovery.recover import CameraEstimate, estimate_camera

__all__ = [
    "CameraEstimate",
    "CameraNetConfig",
    "DistortedCloud",
    "PointCloudCameraNet",
    "apply_shift",
    "distort",
    "estimate_camera",
    "focal_from_fov",
    "fov_from_focal",
    "normalised_grid",
    "undistort",
    "unproject_normalised",
]
