"""``gld8tr render-video``: splats and points along an orbit or a trajectory into an MP4 decodable by PyAV."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

from core.gaussians import save_gaussians  # noqa: E402
from core.gaussians.model import Gaussians, rgb_to_sh_dc  # noqa: E402
from gld8tr.cli import main as cli_main  # noqa: E402


def _decode(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _splats(n: int = 400) -> Gaussians:
    gen = torch.Generator().manual_seed(0)
    means = torch.randn(n, 3, generator=gen) * 0.3 + torch.tensor([0.0, 0.0, 2.0])
    return Gaussians(means, torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1), torch.full((n, 3), -3.0),
                     torch.full((n,), 3.0), rgb_to_sh_dc(torch.rand(n, 1, 3, generator=gen)))


def test_orbit_video_of_splats(tmp_path, capsys):
    save_gaussians(_splats(), tmp_path / "g.ply")
    rc = cli_main(["render-video", str(tmp_path / "g.ply"), "--orbit", "--frames", "6", "--width", "64",
                   "--height", "48", "--out", str(tmp_path / "g.mp4"), "--no-progress", "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    frames = _decode(tmp_path / "g.mp4")
    assert len(frames) == 6 and frames[0].shape == (48, 64, 3)
    assert frames[0].mean() > 5  # the splats are in view, not a black video
    assert not any(p.name.startswith(".g.") for p in tmp_path.iterdir())  # no temporary left behind


def test_trajectory_video_of_points(tmp_path):
    from core.io.ply import write_ply

    rng = np.random.default_rng(0)
    pts = (rng.normal(size=(2000, 3)) * 0.3 + [0, 0, 2]).astype(np.float32)
    write_ply(tmp_path / "p.ply", pts, rng.integers(0, 256, (2000, 3), dtype=np.uint8))
    traj = tmp_path / "t.json"
    traj.write_text(json.dumps([{"yaw": 0}, {"yaw": 10, "translation": [0.1, 0, 0]}]))
    rc = cli_main(["render-video", str(tmp_path / "p.ply"), "--trajectory", str(traj), "--frames", "5", "--width",
                   "32", "--height", "32", "--out", str(tmp_path / "p.mp4"), "--no-progress"])
    assert rc == 0
    frames = _decode(tmp_path / "p.mp4")
    assert len(frames) == 5 and frames[-1].shape == (32, 32, 3) and frames[0].mean() > 5


def test_bad_requests_are_clear(tmp_path, capsys):
    save_gaussians(_splats(10), tmp_path / "g.ply")
    assert cli_main(["render-video", str(tmp_path / "nope.ply"), "--out", str(tmp_path / "a.mp4")]) == 2
    assert cli_main(["render-video", str(tmp_path / "g.ply"), "--out", str(tmp_path / "a.avi")]) == 2
    assert cli_main(["render-video", str(tmp_path / "g.ply"), "--width", "33", "--out", str(tmp_path / "a.mp4")]) == 2
    assert "even frame sizes" in capsys.readouterr().err
    assert not (tmp_path / "a.mp4").exists()


def test_run_video_is_an_orbit_of_the_scene_through_the_input_lens(tmp_path, capsys):
    """``gld8tr run --video``: without Gaussians the points are filmed; the orbit starts at the input camera, so
    the first frame shows the photo itself (what the points were lifted from), at the photo's size made even."""
    from pathlib import Path

    from PIL import Image

    photo = Path(__file__).resolve().parents[2] / "examples" / "chelsea.jpg"
    rc = cli_main(["run", "--no-progress", "--image", str(photo), "--mode", "single", "--max-side", "96",
                   "-o", str(tmp_path / "scene.ply"), "--video", str(tmp_path / "s.mp4"),
                   "--video-frames", "5", "--device", "cpu", "--threads", "1"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "5 video frames" in out.out and "(points" in out.out
    frames = _decode(tmp_path / "s.mp4")
    side = json.loads((tmp_path / "scene.json").read_text())
    width, height = side["image_size"]
    assert len(frames) == 5
    h, w = frames[0].shape[:2]
    assert w % 2 == 0 and h % 2 == 0 and abs(w - width) <= 1 and abs(h - height) <= 1
    ref = np.asarray(Image.open(photo).convert("RGB").resize((w, h), Image.BILINEAR), dtype=np.float32)
    first = frames[0].astype(np.float32)
    assert np.abs(first - ref).mean() < 20  # the input view, up to splat edges and H.264
    assert np.abs(frames[2].astype(np.float32) - first).mean() > 1  # and then the camera moves


def test_run_rejects_a_bad_video_request_before_working(tmp_path, capsys):
    from pathlib import Path

    photo = Path(__file__).resolve().parents[2] / "examples" / "chelsea.jpg"
    assert cli_main(["run", "--image", str(photo), "-o", str(tmp_path / "s.ply"), "--video",
                     str(tmp_path / "v.avi")]) == 2
    assert "--video" in capsys.readouterr().err
    assert cli_main(["run", "--image", str(photo), "-o", str(tmp_path / "s.ply"), "--video",
                     str(tmp_path / "v.mp4"), "--video-frames", "0"]) == 2
    assert not any(tmp_path.iterdir())
