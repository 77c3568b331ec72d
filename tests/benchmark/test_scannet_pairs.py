"""The benchmark on a real on-disk dataset layout: the analytic scene written as a ScanNet export (JPEG colour,
16-bit millimetre depth PNGs, pose and intrinsic text files), read back by the project's ScanNet reader."""

import csv
import subprocess
import sys

import numpy as np
import pytest
from bench_scene import analytic_frame
from PIL import Image

from benchmark.datasets import open_reader
from benchmark.pairs import PairConfig, select_pairs
from training.data.decode import write_depth_png


def _write_scene(root, n=6, step=0.1):
    folder = root / "scene0000_00"
    for sub in ("color", "depth", "pose", "intrinsic"):
        (folder / sub).mkdir(parents=True)
    frames = [analytic_frame(i * step, str(i)) for i in range(n)]
    K4 = np.eye(4)
    K4[:3, :3] = frames[0].K
    np.savetxt(folder / "intrinsic" / "intrinsic_depth.txt", K4)
    for i, f in enumerate(frames):
        Image.fromarray(f.image).save(folder / "color" / f"{i}.jpg", quality=95)
        write_depth_png(folder / "depth" / f"{i}.png", f.depth)
        np.savetxt(folder / "pose" / f"{i}.txt", f.cam_to_world)
    return frames


def test_pairs_from_a_scannet_layout(tmp_path):
    _write_scene(tmp_path)
    reader = open_reader("scannet", str(tmp_path))
    config = PairConfig(overlap_min=0.5, overlap_max=0.9, stride=2, offsets=(3, -3), max_side=None)
    pairs = select_pairs(reader, config)
    # B = 0, 2, 4 (stride 2); A = B + 3 where it exists, else B - 3: (3, 0), (5, 2), (1, 4).
    assert [(p.frame_a, p.frame_b) for p in pairs] == [("3", "0"), ("5", "2"), ("1", "4")]
    assert all(0.5 <= p.overlap <= 0.9 for p in pairs)


@pytest.mark.slow  # a CLI process (torch import): ~10-30 s on a shared CPU
def test_cli_on_a_scannet_layout(tmp_path):
    _write_scene(tmp_path / "scannet")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "gld8tr", "benchmark", "--dataset", "scannet", "--root", str(tmp_path / "scannet"),
           "--methods", "nearest", "--stride", "2", "--offsets", "3,-3", "--overlap", "0.5", "0.9",
           "--out", str(out), "--no-progress"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader((out / "pairs.csv").open()))
    assert [r["pair_id"] for r in rows] == ["scene0000_00/3->0", "scene0000_00/5->2", "scene0000_00/1->4"]
    assert "| scannet | nearest | 3 |" in res.stdout
