"""Validation curves of splatter runs (the depth ablation) as one PNG: novel-view PSNR and SSIM against step.

    python -m training.splatter_report runs/splatter/rgb runs/splatter/pred runs/splatter/truedepth \
        --out core/weights/gld8tr-splatter/ablation.png
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

LABELS = {"none": "(a) RGB", "predicted": "(b) RGB + predicted depth", "true": "(c) RGB + true depth"}


def read_curve(run: Path) -> tuple[str, list[int], list[float], list[float]]:
    import yaml

    depth = (yaml.safe_load((run / "train.yaml").read_text()) or {}).get("input_depth", "?")
    steps, psnr, ssim = [], [], []
    with open(run / "metrics.csv") as fh:
        for row in csv.DictReader(fh):
            if row.get("val_psnr_novel"):
                steps.append(int(row["step"]))
                psnr.append(float(row["val_psnr_novel"]))
                ssim.append(float(row["val_ssim_novel"]))
    return LABELS.get(depth, depth), steps, psnr, ssim


def plot(runs: list[Path], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.io.atomic import atomic_path

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for run in runs:
        label, steps, psnr, ssim = read_curve(run)
        axes[0].plot(steps, psnr, marker="o", label=label)
        axes[1].plot(steps, ssim, marker="o", label=label)
    axes[0].set(xlabel="training step", ylabel="held-out novel-view PSNR (dB)")
    axes[1].set(xlabel="training step", ylabel="held-out novel-view SSIM")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("Feed-forward Gaussians: validation curves of the depth ablation (48 held-out synthetic scenes)")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    plot(args.runs, args.out)
    sys.stdout.write(f"{args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
