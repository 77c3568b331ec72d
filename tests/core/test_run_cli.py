"""``gld8tr run`` end to end: bad inputs exit 2 with one line and leave nothing behind; good runs write a PLY,
a sidecar and the views."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES
from PIL import Image
from plyfile import PlyData
from pngraw import bomb_png, png_bytes

from gld8tr.cli import main as cli_main

PHOTO = EXAMPLES / "chelsea.jpg"  # 451x300


def _depth_file(tmp_path: Path, shape: tuple[int, int] = (300, 451)) -> Path:
    depth = np.full(shape, 2.5, np.float32)
    depth[:, : shape[1] // 2] = 1.5
    path = tmp_path / f"depth_{shape[0]}x{shape[1]}.npy"
    np.save(path, depth)
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = cli_main(["run", "--no-progress", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    (tmp_path / "notes.jpg").write_text("this is not a photo\n" * 20)
    (tmp_path / "empty.jpg").write_bytes(b"")
    data = PHOTO.read_bytes()
    (tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "bomb.png").write_bytes(bomb_png(20000, 20000))
    small_depth = _depth_file(tmp_path, (100, 100))
    return {
        "not an image": (["--image", str(tmp_path / "notes.jpg")], "not an image"),
        "zero bytes": (["--image", str(tmp_path / "empty.jpg")], "empty"),
        "truncated": (["--image", str(tmp_path / "half.jpg")], "truncated"),
        "bomb": (["--image", str(tmp_path / "bomb.png")], "MP allowed"),
        "missing": (["--image", str(tmp_path / "nope.jpg")], "no such file"),
        "depth size": (["--image", str(PHOTO), "--depth", str(small_depth), "--mode", "single"], "must match"),
        "mode": (["--image", str(PHOTO), "--mode", "orbit"], "unknown mode"),
        "inpainter": (["--image", str(PHOTO), "--depth", str(_depth_file(tmp_path)), "--inpainter", "photoshop",
                       "--depth-model", "nearest"], "unknown inpainter"),
        "depth model": (["--image", str(PHOTO), "--depth-model", "zoe-magic"], "unknown depth completer"),
        "trajectory": (["--image", str(PHOTO), "--trajectory", str(tmp_path / "nope.json")], "no such file"),
    }


def test_bad_inputs_exit_2_with_one_line_and_no_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    for case, (args, message) in _bad_inputs(tmp_path).items():
        rc, _, err = _run(capsys, *args, "--output_path", str(out_dir / "scene.ply"))
        lines = [line for line in err.splitlines() if line.strip()]
        assert rc == 2, (case, err)
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in err, (case, err)
        assert lines[0].startswith("gld8tr run: error:"), (case, lines)
        assert not out_dir.exists() or not any(out_dir.iterdir()), case


def test_real_entry_point_has_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("not a photo")
    res = subprocess.run(
        [sys.executable, "-m", "gld8tr", "run", "--image", str(tmp_path / "notes.jpg"), "-o", str(tmp_path / "x.ply")],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "not an image" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "x.ply").exists()


def test_rgbd_single_writes_ply_sidecar_and_views(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "cat.ply"
    rc, stdout, _ = _run(capsys, "--image", str(PHOTO), "--depth", str(_depth_file(tmp_path)), "--mode", "single",
                         "--output_path", str(out), "--save-views", str(tmp_path / "views"), "--seed", "3")
    assert rc == 0
    ply = PlyData.read(str(out))
    n = len(ply["vertex"])
    assert n == 448 * 296  # the photo cropped to multiples of 8, one point per pixel
    assert f"{n:,} points" in stdout and str(out) in stdout
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["num_points"] == n and sidecar["seed"] == 3 and sidecar["extra"]["input_depth"] is True
    assert sidecar["image_size"] == [448, 296] and len(sidecar["cameras"]) == 1
    view = np.asarray(Image.open(out.parent / sidecar["views"][0]))
    assert view.shape == (296, 448, 3)
    assert sorted(p.name for p in out.parent.iterdir()) == ["cat.json", "cat.ply"]  # no temporaries left


def test_sixteen_bit_gray_photo_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gray16 = (np.asarray(Image.open(PHOTO).convert("L")).astype(np.uint16) * 257)
    (tmp_path / "gray16.png").write_bytes(png_bytes(gray16))
    rc, _, err = _run(capsys, "--image", str(tmp_path / "gray16.png"), "--depth", str(_depth_file(tmp_path)),
                      "--mode", "single", "-o", str(tmp_path / "g.ply"))
    assert rc == 0, err
    colors = np.stack([PlyData.read(str(tmp_path / "g.ply"))["vertex"][c] for c in ("red", "green", "blue")], 1)
    assert np.array_equal(colors[:, 0], colors[:, 2])


def test_stage_with_a_trajectory_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traj = tmp_path / "path.json"
    traj.write_text(json.dumps([{"yaw": 0}, {"yaw": -30, "translation": [0.0, 0.0, 0.1]}]))
    rc, _, err = _run(capsys, "--image", str(PHOTO), "--depth", str(_depth_file(tmp_path)), "--trajectory",
                      str(traj), "--depth-model", "nearest", "--max-side", "128", "-o", str(tmp_path / "t.ply"))
    assert rc == 0, err
    sidecar = json.loads((tmp_path / "t.json").read_text())
    assert sidecar["mode"] == "trajectory" and len(sidecar["cameras"]) == 2
    assert sidecar["num_points"] > 128 * 80


def test_output_path_is_checked_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys, "--image", str(PHOTO), "-o", str(tmp_path / "scene.json"))
    assert rc == 2 and "must end in .ply" in err
    (tmp_path / "adir.ply").mkdir()
    rc, _, err = _run(capsys, "--image", str(PHOTO), "-o", str(tmp_path / "adir.ply"))
    assert rc == 2 and "is a directory" in err
