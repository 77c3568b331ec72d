"""Speed of ``core.render.render_points``: 1M points into a 512x512 view (target: under 1 s on a 2-core CPU).

Two clouds: ``lifted`` is what the generation loop renders (a 1000x1000 depth map of a room-like surface lifted to
points, seen from a camera turned by 20 degrees, perspective splat radii), ``random`` is a Gaussian blob drawn
with a fixed radius. Timings are the median of ``--repeats`` runs after one warm-up, synchronised on CUDA.

    python -m benchmark.render_speed [--points 1000000] [--size 512] [--device cpu|cuda] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable

import torch

from core.camera import Intrinsics, invert_pose, pose_from_yaw_pitch, unproject_depth
from core.render import PointRender, render_points, render_points_world_size


def _lifted_cloud(n_points: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Points, colours and world sizes lifted from a square depth map of about ``n_points`` pixels."""
    side = max(2, int(math.sqrt(n_points)))
    intr = Intrinsics.from_fov(side, side)
    u = torch.linspace(-1, 1, side)
    depth = 3.0 + 1.5 * u[None, :].abs() + 0.3 * torch.sin(6 * u[:, None])  # a corridor with a wavy floor
    pts = unproject_depth(depth.to(device), intr.matrix(device)).reshape(-1, 3)
    colors = torch.rand(pts.shape[0], 3, device=device, generator=None)
    world_size = (depth.reshape(-1).to(device) / intr.fx) * (0.5 * math.sqrt(2))
    return pts, colors, world_size


def _time(fn: Callable[[], PointRender], repeats: int, device: str) -> tuple[float, PointRender]:
    out = fn()  # warm-up (allocator, kernels)
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=512, help="output width and height in pixels")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads; 1 is fastest on a shared CPU (idle OpenMP threads spin-wait)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev, size = args.device, args.size
    K = Intrinsics.from_fov(size, size).matrix(dev)

    pts, colors, world_size = _lifted_cloud(args.points, dev)
    w2c = invert_pose(pose_from_yaw_pitch(20.0, 0.0, (0.05, 0.0, 0.0))).to(dev)
    cases: list[tuple[str, int, Callable[[], PointRender]]] = [
        (
            "lifted, perspective radius",
            pts.shape[0],
            lambda: render_points_world_size(pts, colors, world_size, K, w2c, size, size),
        ),
        ("lifted, one pixel", pts.shape[0], lambda: render_points(pts, colors, K, w2c, size, size)),
    ]
    blob = torch.randn(args.points, 3, device=dev) * torch.tensor([1.0, 1.0, 0.3], device=dev)
    blob[:, 2] += 3.0
    blob_colors = torch.rand(args.points, 3, device=dev)
    eye = torch.eye(4, device=dev)
    for radius in (None, 1.0, 2.0):
        cases.append(
            (
                f"random blob, radius {radius}",
                args.points,
                lambda r=radius: render_points(blob, blob_colors, K, eye, size, size, radius_px=r),
            )
        )

    threads = torch.get_num_threads() if dev == "cpu" else "-"
    print(f"render_points: {size}x{size}, device {dev}, threads {threads}, median of {args.repeats}")
    for name, n, fn in cases:
        seconds, out = _time(fn, args.repeats, dev)
        coverage = float(out.mask.float().mean())
        print(
            f"  {name:<28} {n:>9,d} points  {seconds * 1000:8.1f} ms  {n / seconds / 1e6:7.2f} M points/s"
            f"  coverage {coverage:.1%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
