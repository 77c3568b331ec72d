"""Cost per Gaussian-pixel pair of the CPU Gaussian rasteriser, against a dense autograd stand-in, side by side.

Scene: a 160x108 camera (the CPU fit's working resolution) looking at Gaussians initialised the way the fit does
(``gaussians_from_points``, SH degree 3) from a lifted wavy-corridor depth map, seen from a camera turned by 10
degrees. Timed: one training step's work, ``rasterize_reference`` + L1 loss + backward. The stand-in gets the
SAME (Gaussian, pixel) pairs, prepared outside its timing, laid out densely as [pixels, max pairs per pixel] and
composited with plain autograd (gather, exp, cumprod, weighted sum), i.e. the floor of what a tensor library does
with that many pairs without custom kernels. Both report process CPU time per pair (median of ``--repeats``).

    python -m benchmark.gaussian_speed [--repeats 5] [--threads 1] [--width 160]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.camera import Camera, Intrinsics, pose_from_yaw_pitch, unproject_depth
from core.gaussians.init import gaussians_from_points
from core.gaussians.model import Gaussians
from core.gaussians.rasterize import (
    ALPHA_MAX,
    _candidate_pairs,
    camera_tensors,
    project_gaussians,
    rasterize_reference,
)


def test_scene(width: int = 160) -> tuple[Gaussians, Camera]:
    """Gaussians lifted from a wavy corridor and a camera turned by 10 degrees (the fit's usual view change)."""
    height = round(width * 108 / 160)
    intr = Intrinsics.from_fov(width, height)
    u = torch.linspace(-1, 1, width)
    v = torch.linspace(-1, 1, height)
    depth = 3.0 + 1.5 * u[None, :].abs() + 0.3 * torch.sin(6 * v[:, None])
    pts = unproject_depth(depth, intr.matrix()).reshape(-1, 3)
    g = torch.Generator().manual_seed(0)
    colors = (torch.rand(pts.shape[0], 3, generator=g) * 255).to(torch.uint8)
    cam0 = Camera(intr, torch.eye(4))
    gs = gaussians_from_points(pts.numpy(), colors.numpy(), [cam0], sh_degree=3)
    gs = Gaussians(gs.means, gs.quats, gs.log_scales, gs.opacity_logits,
                   gs.sh + 0.05 * torch.randn(gs.sh.shape, generator=g))
    return gs, Camera(intr, pose_from_yaw_pitch(10.0, 0.0, (0.05, 0.0, 0.0)))


def _leaf(g: Gaussians) -> Gaussians:
    return g.map(lambda t: t.detach().clone().requires_grad_(True))


def _time(fn: Callable[[], None], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def dense_stand_in(g: Gaussians, camera: Camera) -> tuple[Callable[[], None], int]:
    """A closure doing forward + backward of the same pairs as dense autograd tensors, and the pair count."""
    K, w2c, width, height = camera_tensors(camera, g.means.device)
    with torch.no_grad():
        proj = project_gaussians(g.detach(), K, w2c, width, height)
        params = torch.cat([proj["means2d"], proj["conics"], proj["opacities"][:, None]], dim=1)
        rows, pix = _candidate_pairs(params, proj["radii"], width, height)
        order = torch.sort(pix, stable=True).indices  # depth order kept inside each pixel
        rows, pix = rows[order], pix[order].long()
        pixels, counts = torch.unique_consecutive(pix, return_counts=True)
        kmax = int(counts.max())
        start = torch.cumsum(counts, 0) - counts
        slot = torch.arange(len(pix)) - torch.repeat_interleave(start, counts)
        seg = torch.repeat_interleave(torch.arange(len(pixels)), counts)
        dense_rows = torch.zeros(len(pixels), kmax, dtype=torch.long)
        valid = torch.zeros(len(pixels), kmax, dtype=torch.bool)
        dense_rows[seg, slot] = rows
        valid[seg, slot] = True
        pxy = torch.stack([pixels % width, pixels // width], 1).float()[:, None, :]
    leaf_params = params.clone().requires_grad_(True)
    leaf_colors = proj["colors"].detach().clone().requires_grad_(True)

    def step() -> None:
        p = leaf_params[dense_rows]  # [P, k, 6]
        d = pxy - p[..., :2]
        power = -0.5 * (p[..., 2] * d[..., 0] ** 2 + p[..., 4] * d[..., 1] ** 2) - p[..., 3] * d[..., 0] * d[..., 1]
        alpha = torch.where(valid, (p[..., 5] * torch.exp(power)).clamp_max(ALPHA_MAX), 0.0)
        trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1)
        rgb = ((alpha * trans)[..., None] * leaf_colors[dense_rows]).sum(1)
        rgb.abs().mean().backward()
        leaf_params.grad = leaf_colors.grad = None

    return step, len(pix)


@dataclass
class PairCost:
    pairs: int
    rasteriser_ns: float
    stand_in_ns: float

    @property
    def ratio(self) -> float:
        return self.rasteriser_ns / self.stand_in_ns


def measure(width: int = 160, repeats: int = 5) -> PairCost:
    g, cam = test_scene(width)
    target = torch.zeros(cam.intrinsics.height, cam.intrinsics.width, 3)

    def train_step() -> None:
        leaf = _leaf(g)
        out = rasterize_reference(leaf, cam)
        (out.image - target).abs().mean().backward()

    n_pairs = rasterize_reference(g, cam).num_pairs
    ours = _time(train_step, repeats)
    stand_in, n_dense = dense_stand_in(g, cam)
    assert n_dense == n_pairs, (n_dense, n_pairs)
    dense = _time(stand_in, repeats)
    return PairCost(n_pairs, ours / n_pairs * 1e9, dense / n_pairs * 1e9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--width", type=int, default=160)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    c = measure(args.width, args.repeats)
    print(f"Gaussian rasteriser (forward + backward), {c.pairs:,d} pairs, threads {torch.get_num_threads()},"
          f" median of {args.repeats} (process CPU): {c.rasteriser_ns:6.1f} ns/pair; dense autograd stand-in"
          f" {c.stand_in_ns:6.1f} ns/pair; ratio {c.ratio:4.2f}x")
    return 0 if math.isfinite(c.ratio) else 1


if __name__ == "__main__":
    sys.exit(main())
