"""Camera paths: the built-in modes and user trajectory files.

Every path starts with the input camera (identity pose); world coordinates are that camera's frame.

Mode choices. ``stage`` turns the camera to [0, +20, -20, +40, -40] degrees: the method's published [0, +25, -25]
widens a 53-degree photo to about 103 degrees, while +-40 in steps of 20 (each step overlapping the previous view
by more than half a frame, so the depth completer always has context) widens it to about 133 degrees, which
reads clearly as "the scene continues on both sides". Views alternate right/left so a run cancelled midway is
still symmetric. ``360`` uses the published 13 azimuths, which cover the full circle at the default field of view.
The camera does not turn exactly in place: it orbits a pivot ``ORBIT_RADIUS_M`` in front of it, a few
centimetres of baseline that give the depth completer real parallax at object boundaries while keeping the
re-rendered views sharp.

Trajectory files (JSON), either form, optionally wrapped as ``{"poses": [...]}`` or ``{"steps": [...],
"relative": true}``:

* a list of 4x4 camera-to-world matrices (OpenCV axes, metres), or of ``{"cam_to_world": [[...]]}``;
* a list of ``{"yaw": deg, "pitch": deg, "translation": [x, y, z]}`` (all optional, default 0). Absolute in the
  input camera's frame, or, with ``"relative": true``, each step applied in the previous camera's frame.

The input camera is always view 0; a leading identity pose in the file is not duplicated.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from core.camera import pose_from_yaw_pitch
from core.errors import InputError
from core.modes import MODES, Mode

__all__ = ["MODES", "Mode", "load_trajectory", "parse_trajectory", "poses_for_mode"]

STAGE_AZIMUTHS_DEG: tuple[float, ...] = (0.0, 20.0, -20.0, 40.0, -40.0)
FULL_TURN_AZIMUTHS_DEG: tuple[float, ...] = (*(25.0 * i for i in range(11)), 272.5, 316.25)
ORBIT_RADIUS_M = 0.05
MAX_VIEWS = 64


def orbit_pose(yaw_deg: float, pitch_deg: float = 0.0, radius: float = ORBIT_RADIUS_M) -> torch.Tensor:
    """Camera-to-world [4, 4] turned by yaw/pitch while orbiting a pivot ``radius`` metres in front of the input
    camera (the camera keeps looking at the pivot)."""
    pose = pose_from_yaw_pitch(yaw_deg, pitch_deg)
    pivot = torch.tensor([0.0, 0.0, radius])
    pose[:3, 3] = pivot - pose[:3, 2] * radius
    return pose


def poses_for_mode(mode: str) -> list[torch.Tensor]:
    """The camera-to-world poses [4, 4] of a built-in mode, input camera first."""
    if mode == "single":
        return [torch.eye(4)]
    if mode == "stage":
        return [orbit_pose(a) for a in STAGE_AZIMUTHS_DEG]
    if mode == "360":
        return [orbit_pose(a) for a in FULL_TURN_AZIMUTHS_DEG]
    raise InputError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)} or give a trajectory file")


def _pose_from_entry(entry: Any, i: int) -> torch.Tensor:
    if isinstance(entry, dict) and "cam_to_world" in entry:
        entry = entry["cam_to_world"]
    if isinstance(entry, dict):
        unknown = set(entry) - {"yaw", "pitch", "translation"}
        if unknown:
            raise InputError(f"trajectory entry {i}: unknown keys {sorted(unknown)} (use yaw, pitch, translation)")
        try:
            yaw = float(entry.get("yaw", 0.0))
            pitch = float(entry.get("pitch", 0.0))
            t = [float(x) for x in entry.get("translation", (0.0, 0.0, 0.0))]
        except (TypeError, ValueError):
            raise InputError(f"trajectory entry {i}: yaw, pitch must be numbers and translation [x, y, z]") from None
        if len(t) != 3 or not all(math.isfinite(x) for x in (yaw, pitch, *t)):
            raise InputError(f"trajectory entry {i}: translation must be 3 finite numbers")
        return pose_from_yaw_pitch(yaw, pitch, (t[0], t[1], t[2]))
    try:
        pose = torch.tensor(entry, dtype=torch.float64)
    except (TypeError, ValueError):
        raise InputError(f"trajectory entry {i}: expected a 4x4 matrix or a yaw/pitch/translation object") from None
    if pose.shape != (4, 4) or not torch.isfinite(pose).all():
        raise InputError(f"trajectory entry {i}: expected a finite 4x4 matrix, got shape {tuple(pose.shape)}")
    R = pose[:3, :3]
    if not torch.allclose(R @ R.T, torch.eye(3, dtype=torch.float64), atol=1e-3) or torch.det(R) < 0:
        raise InputError(f"trajectory entry {i}: the rotation part is not a proper rotation matrix")
    if not torch.allclose(pose[3], torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64), atol=1e-6):
        raise InputError(f"trajectory entry {i}: the last row must be [0, 0, 0, 1]")
    return pose.float()


def parse_trajectory(data: Any) -> list[torch.Tensor]:
    """Poses [4, 4] from decoded JSON (see the module docstring), input camera first."""
    relative = False
    if isinstance(data, dict):
        relative = bool(data.get("relative", False))
        data = data.get("poses", data.get("steps"))
    if not isinstance(data, list) or not data:
        raise InputError("trajectory must be a non-empty JSON list of poses or yaw/pitch/translation steps")
    if len(data) > MAX_VIEWS:
        raise InputError(f"trajectory has {len(data)} views; at most {MAX_VIEWS} are allowed")
    poses = [_pose_from_entry(e, i) for i, e in enumerate(data)]
    if relative:
        chained, current = [], torch.eye(4)
        for step in poses:
            current = current @ step
            chained.append(current.clone())
        poses = chained
    if torch.allclose(poses[0], torch.eye(4), atol=1e-6):
        poses = poses[1:]
    return [torch.eye(4), *poses]


def load_trajectory(path: str | Path) -> list[torch.Tensor]:
    """Read a trajectory JSON file; errors name the file and the problem."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"trajectory {p}: no such file")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"trajectory {p}: not valid JSON ({exc})") from None
    try:
        return parse_trajectory(data)
    except InputError as exc:
        raise InputError(f"trajectory {p}: {exc}") from None
