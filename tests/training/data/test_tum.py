"""TUM RGB-D and ICL-NUIM readers on fixtures in their exact layouts; strict sequence opening."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.camera import unproject_depth
from core.errors import InputError
from tests.training.data.sequence_fixtures import H, W, sensor_K, small_room, write_scannet, write_tum
from training.data.sequences import open_sequence
from training.data.tum import ICL_INTRINSICS, TUM_INTRINSICS, ICLNUIMReader, TUMReader, pose_from_tum


@pytest.fixture(scope="module")
def room():
    return small_room()


def test_tum_association_depth_scale_and_poses(tmp_path, room):
    seq = tmp_path / "rgbd_dataset_freiburg1_xyz"
    K_written = sensor_K(*TUM_INTRINSICS["freiburg1"])
    poses = write_tum(seq, room, n=4, K=K_written)
    reader = TUMReader(tmp_path)
    assert reader.scene_ids() == [seq.name]
    frames = reader.frames(seq.name)
    assert len(frames) == 4
    f = frames[2]
    assert np.allclose(f.cam_to_world, poses[2], atol=1e-5)
    fx, fy, cx, cy = TUM_INTRINSICS["freiburg1"]
    assert f.K[0, 0] == pytest.approx(fx * W / 640) and f.K[1, 2] == pytest.approx((cy + 0.5) * H / 480 - 0.5)
    assert np.allclose(f.K, K_written, atol=1e-4)
    truth = room.render(K_written, f.cam_to_world, f.height, f.width, shadows=False).depth
    assert np.abs(f.depth - truth).max() <= 1 / 5000 + 1e-6  # PNG quantised at 5000 units per metre


def test_tum_default_intrinsics_are_ros(tmp_path, room):
    write_tum(tmp_path / "my_scan", room, n=2)
    assert TUMReader(tmp_path).camera("my_scan") == TUM_INTRINSICS["ros"]


def test_quaternion_convention():
    # 90 degrees about z: x -> y.
    pose = pose_from_tum(["1", "2", "3", "0", "0", str(np.sqrt(0.5)), str(np.sqrt(0.5))], "t")
    assert np.allclose(pose[:3, :3] @ [1, 0, 0], [0, 1, 0]) and np.allclose(pose[:3, 3], [1, 2, 3])


def test_icl_flips_y_consistently(tmp_path, room):
    """Geometry lifted with ICL's own convention (fy = -480, its poses) equals ours mirrored in y."""
    fx, fy, cx, cy = ICL_INTRINSICS
    K_ours = sensor_K(fx, fy, cx, cy)
    K_icl = K_ours * np.array([[1, 1, 1], [1, -1, 1], [1, 1, 1]])
    write_tum(tmp_path / "living_room_traj0", room, n=3, K=K_ours, fy_sign=-1.0)
    f = ICLNUIMReader(tmp_path).frames("living_room_traj0")[1]
    assert f.K[1, 1] == pytest.approx(480.0 * H / 480)
    assert np.linalg.det(f.cam_to_world[:3, :3]) == pytest.approx(1.0, abs=1e-5)
    ours = unproject_depth(torch.from_numpy(f.depth), torch.from_numpy(f.K), torch.from_numpy(f.cam_to_world))
    stored = np.diag([1.0, -1, 1, 1]) @ f.cam_to_world.astype(np.float64) @ np.diag([1.0, -1, 1, 1])
    theirs = unproject_depth(torch.from_numpy(f.depth), torch.from_numpy(K_icl).float(),
                             torch.from_numpy(stored).float())
    mirrored = theirs * torch.tensor([1.0, -1.0, 1.0])
    assert torch.allclose(ours, mirrored, atol=1e-4)


def test_strict_tum_errors_name_the_file(tmp_path, room):
    seq = tmp_path / "seq"
    write_tum(seq, room, n=3)
    lines = (seq / "groundtruth.txt").read_text().splitlines()
    (seq / "groundtruth.txt").write_text("\n".join(lines[:3]) + "\n")  # header + 2 poses: the last frame has none
    with pytest.raises(InputError, match="groundtruth.txt: no pose"):
        open_sequence(seq, "tum")
    assert len(open_sequence(seq, "tum", skip_invalid_poses=True)) == 2
    bad = lines[:3] + [lines[3].rsplit(" ", 1)[0] + " nan"]
    (seq / "groundtruth.txt").write_text("\n".join(bad) + "\n")
    with pytest.raises(InputError, match="groundtruth.txt.*non-finite"):
        open_sequence(seq, "tum")


def test_strict_scannet_errors(tmp_path, room):
    seq = tmp_path / "scene0000_00"
    write_scannet(seq, room, n=3)
    assert len(open_sequence(seq, "scannet")) == 3
    with pytest.raises(InputError, match="laid out as scannet"):
        open_sequence(seq, "tum")
    (seq / "pose" / "1.txt").write_text(" ".join(["-inf"] * 16))
    with pytest.raises(InputError, match=r"pose/1\.txt: non-finite"):
        open_sequence(seq, "scannet")
    (seq / "pose" / "1.txt").unlink()
    with pytest.raises(InputError, match="mismatched frame counts"):
        open_sequence(seq, "scannet")
    with pytest.raises(InputError, match="--format must be one of"):
        open_sequence(seq, "kitti")
