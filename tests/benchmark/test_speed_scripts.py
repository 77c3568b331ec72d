"""The speed scripts measure what they say, against references that are real computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture()
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_gaussian_stand_in_has_the_rasterisers_pairs_and_picture(one_thread: None) -> None:
    from benchmark.gaussian_speed import dense_stand_in, measure, test_scene
    from core.gaussians.rasterize import rasterize_reference

    g, cam = test_scene(48)
    step, pairs = dense_stand_in(g, cam)
    assert pairs == rasterize_reference(g, cam).num_pairs > 1000
    step()  # forward + backward run
    cost = measure(48, repeats=1)
    assert cost.pairs == pairs and cost.rasteriser_ns > 0 and cost.stand_in_ns > 0


def test_fill_score_is_perfect_for_the_truth_and_worse_for_grey() -> None:
    from benchmark.inpaint_quality import score

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    mask = np.zeros((40, 50), bool)
    mask[10:30, 15:35] = True
    psnr, ssim = score(truth, truth, mask)
    assert psnr == float("inf") and ssim == pytest.approx(1.0)
    grey = np.where(mask[..., None], 127, truth).astype(np.uint8)
    psnr_g, ssim_g = score(grey, truth, mask)
    assert psnr_g < 15 and ssim_g < 0.5


def test_startup_is_timed_against_bare_python() -> None:
    from benchmark.speed import startup

    s = startup(repeats=1)
    assert s["help_wall_s"] >= s["python_wall_s"] * 0.5 > 0
    assert s["help_cpu_s"] > 0


@pytest.mark.slow
def test_speed_report_quick(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from benchmark.speed import main

    assert main(["--quick", "--repeats", "1", "--out", str(tmp_path / "s.json")]) == 0
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["renderer"][0]["agreement"] > 0.999
    assert {r["forced_threads"] for r in report["pipeline"]} == {0, 1, 2}
    out = capsys.readouterr().out
    for line in ("1. point renderer", "2. start-up", "3. Gaussian rasteriser", "4. pipeline"):
        assert line in out


def test_fill_speed_solves_the_real_photos_systems_alike(capsys: pytest.CaptureFixture[str]) -> None:
    """Every ordering solves each Middlebury hole's colourisation system; nested dissection agrees with COLAMD."""
    from benchmark.fill_speed import _systems, main

    systems = _systems(96)
    assert len(systems) >= 10 and all(a.shape[0] == len(rhs) > 0 for _, a, rhs, _, _ in systems)
    assert main(["--size", "96", "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[1:-2]]
    assert len(rows) == len(systems)
    assert all(float(row[-1]) < 1e-8 for row in rows), lines
    assert lines[-1].startswith("speed-up over COLAMD") and lines[-1].split()[3] == "1.00x"
