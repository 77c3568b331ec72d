"""``gld8tr run --gaussians``: the point cloud and the fitted Gaussians from one command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from plyfile import PlyData

from core.gaussians import load_gaussian_ply
from gld8tr.cli import main as cli_main

PHOTO = Path(__file__).resolve().parents[2] / "examples" / "chelsea.jpg"


def test_run_writes_gaussians_and_reports_psnr(tmp_path, capsys):
    depth = np.full((300, 451), 2.5, np.float32)
    depth[:, :200] = 1.8
    np.save(tmp_path / "depth.npy", depth)
    traj = tmp_path / "path.json"
    traj.write_text(json.dumps([{"yaw": 0}, {"yaw": -15}]))
    rc = cli_main([
        "run", "--no-progress", "--image", str(PHOTO), "--depth", str(tmp_path / "depth.npy"), "--trajectory",
        str(traj), "--depth-model", "nearest", "--max-side", "64", "-o", str(tmp_path / "scene.ply"),
        "--gaussians", str(tmp_path / "out_gs.ply"), "--gs-method", "fit", "--gs-iters", "15", "--device", "cpu",
    ])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "Gaussians, PSNR input" in out.out
    names = [p.name for p in PlyData.read(str(tmp_path / "out_gs.ply"))["vertex"].properties]
    assert names[:9] == ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] and names[-1] == "rot_3"
    metrics = json.loads((tmp_path / "out_gs.json").read_text())
    assert metrics["iterations"] == 15 and len(metrics["psnr_views_db"]) == 2
    assert metrics["num_gaussians"] == len(load_gaussian_ply(tmp_path / "out_gs.ply"))
    assert (tmp_path / "scene.ply").is_file()


def test_run_rejects_a_bad_gaussian_suffix_before_working(tmp_path, capsys):
    rc = cli_main(["run", "--image", str(PHOTO), "--gaussians", str(tmp_path / "g.obj")])
    assert rc == 2 and "--gaussians" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_run_rejects_a_negative_colour_solve_before_working(tmp_path, capsys):
    rc = cli_main(["run", "--image", str(PHOTO), "-o", str(tmp_path / "s.ply"), "--gaussians", str(tmp_path / "g.ply"),
                   "--gs-color-solve", "-1"])
    assert rc == 2 and "--gs-color-solve" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
