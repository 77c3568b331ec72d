"""Built-in camera paths and trajectory files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from core.errors import InputError
from core.trajectory import FULL_TURN_AZIMUTHS_DEG, load_trajectory, parse_trajectory, poses_for_mode


def _yaw(pose: torch.Tensor) -> float:
    return math.degrees(math.atan2(float(pose[0, 2]), float(pose[2, 2])))


def test_modes() -> None:
    assert len(poses_for_mode("single")) == 1
    stage = [_yaw(p) for p in poses_for_mode("stage")]
    assert stage[0] == 0 and max(stage) >= 40 - 1e-4 and min(stage) <= -40 + 1e-4
    full = poses_for_mode("360")
    assert len(full) == len(FULL_TURN_AZIMUTHS_DEG) == 13
    for p in full:
        assert torch.allclose(p[:3, :3] @ p[:3, :3].T, torch.eye(3), atol=1e-5)
        assert float(p[:3, 3].norm()) < 0.11  # turns nearly in place
    with pytest.raises(InputError, match="unknown mode 'orbit'"):
        poses_for_mode("orbit")


def test_yaw_steps_absolute_and_relative(tmp_path: Path) -> None:
    steps = [{"yaw": 30}, {"yaw": 30, "translation": [0, 0, 0.5]}]
    absolute = parse_trajectory(steps)
    assert len(absolute) == 3 and torch.equal(absolute[0], torch.eye(4))
    assert abs(_yaw(absolute[2]) - 30) < 1e-4
    relative = parse_trajectory({"steps": steps, "relative": True})
    assert abs(_yaw(relative[2]) - 60) < 1e-4
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"poses": [torch.eye(4).tolist(), absolute[1].tolist()]}))
    loaded = load_trajectory(path)
    assert len(loaded) == 2  # the leading identity is not duplicated
    assert torch.allclose(loaded[1], absolute[1])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "non-empty"),
        ("{not json", "not valid JSON"),
        ('[[1, 2, 3]]', "4x4"),
        ('[{"yaw": "left"}]', "numbers"),
        ('[{"roll": 3}]', "unknown keys"),
        ('[[[2,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]]', "rotation"),
    ],
)
def test_bad_trajectory_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        load_trajectory(path)
