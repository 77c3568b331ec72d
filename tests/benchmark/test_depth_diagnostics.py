"""benchmark.depth_diagnostics: the analysis figures of the depth card come from real fills on real samples."""

from __future__ import annotations

import logging

import numpy as np

from benchmark.depth_diagnostics import main


def _write_sample(path, seed: int) -> None:
    """A two-level scene (a near box in front of a far wall) with a hole across the box's edge."""
    rng = np.random.default_rng(seed)
    H, W = 24, 32
    gt = np.full((H, W), 4.0, np.float32)
    gt[6:18, 4:14] = 1.5
    image = np.where(gt[..., None] < 2, 60, 200).astype(np.uint8).repeat(3, axis=2)
    image = np.clip(image + rng.integers(-4, 5, image.shape), 0, 255).astype(np.uint8)
    known = np.ones((H, W), bool)
    known[:, 10 + seed : 20 + seed] = False
    np.savez_compressed(path, image=image, known_depth=np.where(known, gt, 0), known_mask=known, gt=gt,
                        K=np.eye(3, dtype=np.float32))


def test_fills_reports_every_fill_their_median_and_a_per_pixel_best_below_all(tmp_path, caplog) -> None:
    for seed in range(2):
        _write_sample(tmp_path / f"pair{seed}.npz", seed)
    with caplog.at_level(logging.INFO, logger="gld8tr.diagnostics"):
        main(["fills", "--samples", str(tmp_path), "--method", "nearest"])
    maes = {}
    for record in caplog.records:
        name, value = record.getMessage().split("hole MAE, ")[1].rsplit(": ", 1)
        maes[name] = float(value.removesuffix(" m"))
    assert {"laplacian", "background", "colorization", "bilateral", "nearest", "median of the fills",
            "per-pixel best"} <= set(maes)
    assert all(np.isfinite(v) and v >= 0 for v in maes.values())
    assert maes["per-pixel best"] <= min(v for k, v in maes.items() if k != "per-pixel best")
    assert maes["per-pixel best"] < max(maes.values())


def test_pseudo_holes_put_an_edge_strip_one_strip_width_inwards() -> None:
    from benchmark.depth_diagnostics import pseudo_holes

    known = np.ones((20, 40), bool)
    known[:, :5] = False  # a strip beyond the left edge, 5 px wide
    pseudo = pseudo_holes(known)
    expected = np.zeros_like(known)
    expected[:, 5:10] = True
    np.testing.assert_array_equal(pseudo, expected)
    assert not pseudo_holes(np.ones((8, 8), bool)).any()
    assert not pseudo_holes(np.zeros((8, 8), bool)).any()


def test_selection_reports_an_oracle_no_worse_than_any_candidate_and_a_ground_truth_free_choice(
    tmp_path, caplog
) -> None:
    for seed in range(2):
        _write_sample(tmp_path / f"pair{seed}.npz", seed)
    with caplog.at_level(logging.INFO, logger="gld8tr.diagnostics"):
        main(["selection", "--samples", str(tmp_path), "--method", "nearest"])
    rows, chosen = {}, None
    for record in caplog.records:
        message = record.getMessage()
        if message.startswith("chosen on pseudo-holes:"):
            chosen = message
            continue
        name, values = message.split("MAE / AbsRel, ")[1].rsplit(": ", 1)
        rows[name] = tuple(float(v) for v in values.split(" / "))
    assert {"laplacian", "background", "colorization", "bilateral", "nearest", "plane", "per-pair best (oracle)",
            "chosen on pseudo-holes"} <= set(rows)
    assert all(np.isfinite(v).all() and min(v) >= 0 for v in rows.values())
    oracle = rows.pop("per-pair best (oracle)")[0]
    assert oracle <= min(mae for mae, _ in rows.values()) + 1e-9
    assert oracle < max(mae for mae, _ in rows.values())
    assert chosen is not None and sum(int(part.rsplit(" ", 1)[1]) for part in chosen.split(": ")[1].split(", ")) == 2
