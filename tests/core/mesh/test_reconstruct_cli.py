"""``gld8tr reconstruct`` end to end on sequences in the TUM / ScanNet layouts, and its input errors."""

from __future__ import annotations

import json

import pytest

from core.mesh.io import read_mesh
from core.mesh.metrics import lift_depths, point_metrics, render_depth, voxel_downsample
from gld8tr.cli import main
from tests.training.data.sequence_fixtures import small_room, write_scannet, write_tum
from training.data.sequences import open_sequence


@pytest.fixture(scope="module")
def room():
    return small_room()


def _run(capsys, *args):
    rc = main(["reconstruct", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_tum_with_sensor_depth_gives_the_room(tmp_path, room, capsys):
    write_tum(tmp_path / "seq", room, n=6)
    out = tmp_path / "out" / "room.glb"
    rc, stdout, err = _run(capsys, "--frames", str(tmp_path / "seq"), "--format", "tum", "--out", str(out),
                           "--use-depth", "--voxel-size", "0.04", "--threads", "1")
    assert rc == 0, err
    assert "faces" in stdout and str(out) in stdout
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["frames"] == 6 and report["voxel_size"] == 0.04 and report["refiner"] is None
    mesh = read_mesh(out)
    frames = list(open_sequence(tmp_path / "seq", "tum"))
    Ks, poses = [f.K for f in frames], [f.cam_to_world for f in frames]
    gt = voxel_downsample(lift_depths([f.depth for f in frames], Ks, poses))
    pred = voxel_downsample(lift_depths(render_depth(mesh, Ks, poses, frames[0].height, frames[0].width), Ks, poses))
    assert point_metrics(pred, gt)["fscore"] > 0.9


def test_scannet_with_predicted_depth_runs(tmp_path, room, capsys):
    write_scannet(tmp_path / "scene0000_00", room, n=3)
    out = tmp_path / "p.ply"
    rc, stdout, err = _run(capsys, "--frames", str(tmp_path / "scene0000_00"), "--format", "scannet", "--out",
                           str(out), "--refiner", "none", "--threads", "1")
    assert rc == 0, err
    assert len(read_mesh(out).faces) > 0


@pytest.mark.parametrize("case", ["missing_pose", "nonfinite_pose", "counts", "wrong_format", "bad_suffix"])
def test_bad_input_names_the_file_and_writes_nothing(tmp_path, room, capsys, case):
    seq = tmp_path / "scene0001_00"
    write_scannet(seq, room, n=3)
    fmt, out, expect = "scannet", tmp_path / "out" / "m.glb", None
    if case == "missing_pose":
        (seq / "pose" / "2.txt").rename(seq / "pose" / "7.txt")  # counts agree, frame 2 has no pose
        expect = "pose/2.txt is missing"
    elif case == "nonfinite_pose":
        (seq / "pose" / "1.txt").write_text(" ".join(["nan"] * 16))
        expect = "pose/1.txt: non-finite pose"
    elif case == "counts":
        (seq / "pose" / "2.txt").unlink()
        expect = "mismatched frame counts"
    elif case == "wrong_format":
        fmt, expect = "icl", "laid out as scannet"
    else:
        out, expect = tmp_path / "out" / "m.obj", ".glb or .ply"
    rc, _, err = _run(capsys, "--frames", str(seq), "--format", fmt, "--out", str(out), "--use-depth")
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and expect in lines[0], (case, err)
    assert lines[0].startswith("gld8tr reconstruct: error:")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unknown_format_is_an_error(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    rc, _, err = _run(capsys, "--frames", str(tmp_path / "x"), "--format", "kitti", "--out", str(tmp_path / "m.glb"))
    assert rc == 2 and "--format must be one of scannet, tum, icl" in err
    assert not list(tmp_path.glob("*.glb"))
