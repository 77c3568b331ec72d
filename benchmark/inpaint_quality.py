"""Cost of running PatchMatch at reduced resolution: speed and fill quality against the full-resolution fill.

Held-out photos (the bundled examples and scikit-image's rocket and motorcycle, none used to tune anything) get
the inpaint masks the generation loop really makes: ``generate_scene(mode="stage")`` runs with a recording
inpainter, and each view's mask is cut out of the *input* photo, whose pixels are then the truth. Each hole is
filled at full resolution (seed 0 and seed 1: two equally valid fills, the noise floor of the comparison) and at
``--scale``; reported are PSNR and SSIM (11x11 Gaussian window, sigma 1.5) over the hole pixels against the true
photo, and the process CPU time of each fill.

    python -m benchmark.inpaint_quality [--scale 0.5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclass
class FillScore:
    psnr_db: float
    ssim: float
    seconds: float


def held_out_photos() -> dict[str, np.ndarray]:
    """Name -> uint8 [H, W, 3] photo, at most 512 px on the long side (the pipeline's default)."""
    from skimage import data

    from core.io.image import load_image, resize_max_side

    photos = {p.stem: load_image(p) for p in sorted(EXAMPLES.glob("*.jpg"))}
    photos["rocket"] = data.rocket()
    photos["motorcycle"] = data.stereo_motorcycle()[0]
    return {k: resize_max_side(np.asarray(v), 512) for k, v in photos.items()}


class _Recorder:
    """An ``Inpainter`` that keeps each mask and fills with grey (the loop only needs something plausible)."""

    name = "recorder"

    def __init__(self) -> None:
        self.masks: list[np.ndarray] = []

    def __call__(self, image: np.ndarray, mask: np.ndarray, prompt: str = "", *, seed: int | None = None) -> np.ndarray:
        self.masks.append(mask.copy())
        return np.where(mask[..., None], 127, image).astype(np.uint8)


def loop_masks(photo: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The (cropped) photo and the inpaint masks of its ``stage`` views."""
    from core.pipeline import generate_scene

    rec = _Recorder()
    scene = generate_scene(photo, mode="stage", inpainter=rec, seed=0)
    return scene.views[0], [m for m in rec.masks if m.any()]


def score(fill: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """PSNR (dB) and mean SSIM over the ``mask`` pixels of a uint8 fill against the truth."""
    from skimage.metrics import structural_similarity

    diff = (fill.astype(np.float64) - truth.astype(np.float64))[mask]
    mse = float(np.mean(diff**2))
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    _, ssim_map = structural_similarity(truth, fill, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=255, full=True)
    return psnr, float(ssim_map.mean(axis=2)[mask].mean())


def measure(scale: float) -> dict[str, dict[str, float]]:
    """Mean PSNR / SSIM / seconds per fill over every held-out photo and mask, per variant."""
    from core.backends.patchmatch_inpainter import PatchMatchInpainter

    full = PatchMatchInpainter(work_scale=1.0)
    variants = {"full, seed 0": (full, 0), "full, seed 1": (full, 1),
                f"scale {scale:g}, seed 0": (PatchMatchInpainter(work_scale=scale), 0)}
    scores: dict[str, list[FillScore]] = {k: [] for k in variants}
    for photo in held_out_photos().values():
        truth, masks = loop_masks(photo)
        for mask in masks:
            for name, (inp, seed) in variants.items():
                t0 = time.process_time()
                fill = inp(truth, mask, seed=seed)
                seconds = time.process_time() - t0
                scores[name].append(FillScore(*score(fill, truth, mask), seconds))
    return {
        name: {"psnr_db": statistics.mean(s.psnr_db for s in v), "ssim": statistics.mean(s.ssim for s in v),
               "seconds": statistics.median(s.seconds for s in v), "fills": len(v)}
        for name, v in scores.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    rows = measure(args.scale)
    print("PatchMatch fill of the loop's stage masks cut from held-out photos (hole pixels vs the true photo):")
    for name, r in rows.items():
        print(f"  {name:<16} PSNR {r['psnr_db']:6.2f} dB  SSIM {r['ssim']:.4f}  {r['seconds'] * 1000:7.1f} ms per fill"
              f" (median of {r['fills']}, process CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
