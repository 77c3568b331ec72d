"""``estimate_camera``: the field of view (and depth shift) of one photo from its depth map.

The pipeline's one entry point for ``--fov auto``. It validates the depth (a wrong shape is an ``InputError``;
too few valid points, or a depth with no relief, gives the documented fallback -- the fixed default field of
view, no shift -- with the reason recorded, never a silent guess), subsamples the valid pixels, and runs the
chosen method:

* ``"module"``: the trained :class:`~core.camera_recovery.net.PointCloudCameraNet` (shipped default
  ``core/weights/gld8tr-camera``), iterated: apply the predicted shift, re-read the cloud, apply the focal;
* ``"module+refine"``: the module's estimate refined by the geometric search in a window around it (as MoGe
  refines its network's point map by a closed-form solve);
* ``"geometric"``: :func:`~core.camera_recovery.classical.geometric_search` (planarity + orthogonality);
* ``"fixed"``: the default 53.13 degrees, no shift (what every photo got before).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from core.camera import DEFAULT_FOV_DEG
from core.camera_recovery.geometry import (
    apply_shift,
    depth_scale,
    focal_from_fov,
    fov_from_focal,
    normalised_grid,
    sample_valid,
    unproject_normalised,
)
from core.camera_recovery.net import PointCloudCameraNet
from core.errors import InputError

log = logging.getLogger(__name__)

Method = Literal["module", "module+refine", "geometric", "fixed"]
METHODS: tuple[str, ...] = ("module", "module+refine", "geometric", "fixed")
REFINE_SHIFT = 0.15
"""``module+refine`` searches the shift within +-this (normalised units) of the module's ..."""
REFINE_LOG_SCALE = 0.25
"""... and the focal within a factor e^+-this (about +-28%) of the module's."""
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "weights" / "gld8tr-camera"
MIN_VALID_POINTS = 256
"""Fewer valid depth pixels than this and the cloud says nothing about the camera: fall back."""
MIN_RELIEF = 1.02
"""98th / 2nd percentile of the valid depth below this = a flat, constant depth: fall back."""


@dataclass
class CameraEstimate:
    """What was estimated and how. ``shift`` is in the depth's own units: corrected depth = depth - shift."""

    fov_x_deg: float
    focal_px: float
    shift: float
    method: str
    """``module``, ``geometric``, ``fixed`` or ``fallback``."""
    fallback_reason: str | None = None
    valid_points: int = 0
    shift_applied: bool = False
    """Whether ``shift`` was estimated (relative depth); False leaves depth untouched (shift 0)."""

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["fov_x_deg"], d["focal_px"], d["shift"] = (round(float(d[k]), 6) for k in ("fov_x_deg", "focal_px", "shift"))
        return d

    def corrected_depth(self, depth: np.ndarray) -> np.ndarray:
        """``depth - shift`` on valid pixels (0 stays 0)."""
        if not self.shift_applied or self.shift == 0:
            return depth
        return np.where(depth > 0, np.maximum(depth - self.shift, 0), 0).astype(np.float32)


_MODELS: dict[str, PointCloudCameraNet] = {}
_LOCK = threading.Lock()


def load_module(path: str | Path | None = None, device: str | torch.device = "cpu") -> PointCloudCameraNet:
    """The camera module at ``path`` (default: the shipped checkpoint), loaded once per process and device."""
    key = f"{Path(path or DEFAULT_CHECKPOINT).resolve()}@{device}"
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = PointCloudCameraNet.from_pretrained(path or DEFAULT_CHECKPOINT, device=device)
        return _MODELS[key]


@torch.inference_mode()
def module_recovery(
    model: PointCloudCameraNet, depth_n: torch.Tensor, uv: torch.Tensor, f_guess: float | torch.Tensor, *,
    iterations: int | None = None, estimate_shift: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Iterated module inference on a batch: depth_n [B, N] (all valid), uv [B, N, 2], f_guess float or [B].

    Returns ``(shift [B] in units of depth_n, f_n [B])``. Each iteration applies the predicted shift (when
    ``estimate_shift``), then reads the corrected cloud again and applies the predicted focal scale.
    """
    B = depth_n.shape[0]
    valid = torch.ones_like(depth_n, dtype=torch.bool)
    f = torch.as_tensor(f_guess, dtype=depth_n.dtype, device=depth_n.device).expand(B).clone()
    cur, acc_scale, total = depth_n, torch.ones(B, device=depth_n.device), torch.zeros(B, device=depth_n.device)
    for _ in range(iterations or model.config.iterations):
        if estimate_shift:
            s, _ = model(unproject_normalised(cur, uv, f[:, None]), uv)
            cur, scale, used = apply_shift(cur, s, valid)
            total = total + acc_scale * used
            acc_scale = acc_scale * scale
        _, log_a = model(unproject_normalised(cur, uv, f[:, None]), uv)
        f = f / torch.exp(log_a)
    return total, f


def estimate_camera(
    depth: np.ndarray,
    *,
    method: Method = "module",
    estimate_shift: bool = False,
    expected_shape: tuple[int, int] | None = None,
    model: PointCloudCameraNet | str | Path | None = None,
    iterations: int | None = None,
    device: str | torch.device = "cpu",
) -> CameraEstimate:
    """Field of view (and shift, with ``estimate_shift`` for relative depth) from a depth map [H, W].

    ``depth``: z-depth (metres, or affine-invariant units when ``estimate_shift``), 0 / NaN / inf = unknown.
    ``expected_shape``: the photo's (H, W); a depth of another shape is an ``InputError``.
    """
    # 1. Check inputs
    if method not in METHODS:
        raise InputError(f"camera method must be one of {', '.join(METHODS)}, got {method!r}")
    arr = np.asarray(depth)
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise InputError(f"depth for camera recovery must be a 2-D map [H, W], got shape {arr.shape}")
    if expected_shape is not None and tuple(arr.shape) != tuple(expected_shape):
        raise InputError(f"depth map is {arr.shape[0]}x{arr.shape[1]} but the photo is "
                         f"{expected_shape[0]}x{expected_shape[1]}")
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"depth must be numeric, got dtype {arr.dtype}")
    H, W = arr.shape
    d = arr.astype(np.float32)
    valid = np.isfinite(d) & (d > 0)
    n_valid = int(valid.sum())

    def fixed(reason: str | None) -> CameraEstimate:
        f_px = 0.5 * W / math.tan(math.radians(DEFAULT_FOV_DEG) / 2)
        return CameraEstimate(DEFAULT_FOV_DEG, f_px, 0.0, "fixed" if reason is None else "fallback", reason, n_valid)

    if method == "fixed":
        return fixed(None)
    # 2. Fallbacks: a cloud that cannot say anything about the camera
    if n_valid < MIN_VALID_POINTS:
        return fixed(f"only {n_valid} valid depth pixels (need {MIN_VALID_POINTS})")
    lo, hi = np.percentile(d[valid], [2, 98])
    if hi < MIN_RELIEF * lo:
        return fixed(f"depth has no relief (98th/2nd percentile {hi / lo:.4f} < {MIN_RELIEF})")
    # 3. Subsample the valid pixels (evenly: deterministic) and normalise
    dt = torch.from_numpy(np.where(valid, d, 0)).reshape(-1)
    vt = torch.from_numpy(valid).reshape(-1)
    uv_all = normalised_grid(H, W).reshape(-1, 2)
    f_px_of = lambda f_n: float(f_n) * W / 2  # noqa: E731
    if method in ("module", "module+refine"):
        net = model if isinstance(model, PointCloudCameraNet) else load_module(model, device)
        dev = next(net.parameters()).device
        idx = sample_valid(vt, net.config.num_points)
        scale = float(depth_scale(dt[None], vt[None])[0])
        dn, uv = (dt[idx] / scale)[None].to(dev), uv_all[idx][None].to(dev)
        shift_n, f_n = module_recovery(net, dn, uv, focal_from_fov(net.config.guess_fov_deg),
                                       iterations=iterations, estimate_shift=estimate_shift)
        shift_n, f_n = float(shift_n[0]), float(f_n[0])
        if method == "module+refine":
            shift_n, f_n = _refine(dt[idx] / scale, uv_all[idx], shift_n, f_n, estimate_shift)
    else:
        idx = sample_valid(vt, 2048)
        scale = float(depth_scale(dt[None], vt[None])[0])
        shift_n, f_n = _geometric(dt[idx] / scale, uv_all[idx], estimate_shift)
    if not (math.isfinite(f_n) and f_n > 0 and math.isfinite(shift_n)):
        return fixed(f"{method} returned a non-finite estimate")
    return CameraEstimate(float(fov_from_focal(f_n)), f_px_of(f_n), shift_n * scale if estimate_shift else 0.0,
                          method, None, n_valid, estimate_shift)


def _refine(depth_n: torch.Tensor, uv: torch.Tensor, shift_n: float, f_n: float,
            estimate_shift: bool) -> tuple[float, float]:
    """The geometric search restricted to a window around the module's estimate."""
    from core.camera_recovery.classical import geometric_search

    shift_range = (shift_n - REFINE_SHIFT, shift_n + REFINE_SHIFT) if estimate_shift else (0.0, 0.0)
    return geometric_search(depth_n, uv, f_n, shift_range=shift_range,
                            log_scale_range=(-REFINE_LOG_SCALE, REFINE_LOG_SCALE))


def _geometric(depth_n: torch.Tensor, uv: torch.Tensor, estimate_shift: bool) -> tuple[float, float]:
    from core.camera_recovery.classical import geometric_search

    f_guess = float(focal_from_fov(60.0))
    shift_range = (-0.25, 0.8) if estimate_shift else (0.0, 0.0)
    return geometric_search(depth_n, uv, f_guess, shift_range=shift_range)
