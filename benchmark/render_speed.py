"""Speed of ``core.render.render_points`` against a plain numpy argsort z-buffer, measured side by side.

The cloud is what the generation loop renders: a square depth map of a room-like surface lifted to points, seen
from a camera turned by 20 degrees, with perspective splat radii. For every size the same process times the
torch renderer and the numpy reference (``render_points_numpy``: every fragment of every disk listed, sorted by
packed (depth, id) key with ``np.argsort``, the first fragment of each pixel kept), reports the ratio and how
many pixels show the same point. Context: the time of merely copying the cloud's bytes (the memory floor) and,
at the largest size, a few fixed-radius blobs. Timings are medians of ``--repeats`` runs after one warm-up: the
process's CPU time on the CPU (robust to other jobs on a shared machine), wall time synchronised on CUDA.

    python -m benchmark.render_speed [--sizes 100000,300000,1000000,4000000] [--size 512] [--device cpu|cuda]
                                     [--threads 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from core.camera import Intrinsics, invert_pose, pose_from_yaw_pitch, unproject_depth
from core.render import MAX_RADIUS_PX, render_points, render_points_world_size

DEFAULT_SIZES = (100_000, 300_000, 1_000_000, 4_000_000)


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


def render_points_numpy(
    points: np.ndarray,  # [N, 3] float32 world
    K: np.ndarray,  # [3, 3]
    world_to_cam: np.ndarray,  # [4, 4]
    height: int,
    width: int,
    radius_px: np.ndarray | float | None = None,  # [N] or scalar pixels; None = one pixel per point
    near: float = 1e-3,
) -> np.ndarray:
    """The reference: a plain argsort z-buffer in numpy. Returns the visible point id per pixel [H, W] (-1 empty).

    Same coverage rule as ``core.render`` (the nearest pixel always, plus every pixel centre within the radius,
    radius clamped to ``MAX_RADIUS_PX``), same tie rule (nearest, then lowest id), written the obvious way.
    """
    pts = points.astype(np.float32)
    R, t = world_to_cam[:3, :3].astype(np.float32), world_to_cam[:3, 3].astype(np.float32)
    cam = pts @ R.T + t
    z = cam[:, 2]
    ids = np.nonzero(z > near)[0]
    z = z[ids]
    u = K[0, 0] * cam[ids, 0] / z + K[0, 2]
    v = K[1, 1] * cam[ids, 1] / z + K[1, 2]
    ui, vi = np.floor(u + 0.5), np.floor(v + 0.5)
    pix_parts, id_parts = [], []

    def add(x: np.ndarray, y: np.ndarray, sel: np.ndarray) -> None:
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        pix_parts.append((y[inside] * width + x[inside]).astype(np.int64))
        id_parts.append(sel[inside])

    add(ui, vi, np.arange(len(ids)))
    if radius_px is not None:
        r = np.broadcast_to(np.asarray(radius_px, dtype=np.float32), (points.shape[0],))[ids]
        r = np.minimum(r, MAX_RADIUS_PX)
        reach = math.ceil(float(r.max()) + 0.5) if len(r) and r.max() >= 0.5 else 0
        for dy in range(-reach, reach + 1):
            for dx in range(-reach, reach + 1):
                if dx == 0 and dy == 0:
                    continue
                sel = np.nonzero((ui + dx - u) ** 2 + (vi + dy - v) ** 2 <= r * r)[0]
                add(ui[sel] + dx, vi[sel] + dy, sel)
    pix = np.concatenate(pix_parts)
    sel = np.concatenate(id_parts)
    key = (z[sel].view(np.int32).astype(np.int64) << 32) | ids[sel]
    order = np.argsort(key, kind="stable")[::-1]  # farthest first: the last write to a pixel is the nearest
    index = np.full(height * width, -1, dtype=np.int64)
    index[pix[order]] = ids[sel[order]]
    return index.reshape(height, width)


def _time(fn: Callable[[], object], repeats: int, device: str) -> tuple[float, object]:
    """Median seconds of ``fn`` after one warm-up: this process's CPU time on the CPU (with one thread that is the
    compute time, and it barely moves when other jobs share the cores, unlike wall time), wall time between
    synchronisations on CUDA."""
    out = fn()  # warm-up (allocator, kernels)
    clock = time.perf_counter if device == "cuda" else time.process_time
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = clock()
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(clock() - t0)
    return statistics.median(times), out


@dataclass
class RenderFigure:
    """One size of the side-by-side comparison."""

    points: int
    torch_s: float
    numpy_s: float
    copy_s: float
    agreement: float  # fraction of pixels showing the same point id in both
    coverage: float

    @property
    def mpts(self) -> float:
        return self.points / self.torch_s / 1e6

    @property
    def speedup(self) -> float:
        return self.numpy_s / self.torch_s


def measure_lifted(n_points: int, size: int, device: str, repeats: int) -> RenderFigure:
    """Torch renderer vs the numpy reference on the lifted cloud with perspective splats, in this process."""
    pts, colors, world_size = _lifted_cloud(n_points, device)
    K = Intrinsics.from_fov(size, size).matrix(device)
    w2c = invert_pose(pose_from_yaw_pitch(20.0, 0.0, (0.05, 0.0, 0.0))).to(device)
    fast_s, fast = _time(lambda: render_points_world_size(pts, colors, world_size, K, w2c, size, size), repeats,
                         device)
    # The reference gets the same radii (the radius rule is the renderer's, not what is being timed).
    cam_z = pts.float() @ w2c[2, :3] + w2c[2, 3]
    radius = (world_size * float(K[0, 0]) / cam_z.clamp_min(1e-8)).clamp_min(0.5).cpu().numpy()
    p_np, K_np, w_np = pts.cpu().numpy(), K.cpu().numpy(), w2c.cpu().numpy()
    ref_s, ref = _time(lambda: render_points_numpy(p_np, K_np, w_np, size, size, radius), repeats, "cpu")
    copy_s, _ = _time(lambda: (pts.clone(), colors.clone(), world_size.clone()), repeats, device)
    agreement = float((fast.index.cpu().numpy() == ref).mean())
    return RenderFigure(pts.shape[0], fast_s, ref_s, copy_s, agreement, float(fast.mask.float().mean()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES),
                        help="comma-separated point counts of the lifted cloud")
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
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    threads = torch.get_num_threads() if dev == "cpu" else "-"
    print(f"render_points vs numpy argsort z-buffer: lifted cloud, perspective splats, {size}x{size}, device {dev},"
          f" threads {threads}, median of {args.repeats} ({'wall' if dev == 'cuda' else 'process CPU'} time)")
    for n in sizes:
        f = measure_lifted(n, size, dev, args.repeats)
        print(f"  {f.points:>9,d} points  torch {f.torch_s * 1000:8.1f} ms {f.mpts:7.2f} M points/s  numpy"
              f" {f.numpy_s * 1000:8.1f} ms  speed-up {f.speedup:5.1f}x  same pixels {f.agreement:.4%}"
              f"  copy {f.copy_s * 1000:6.1f} ms")

    n = max(sizes)
    K = Intrinsics.from_fov(size, size).matrix(dev)
    blob = torch.randn(n, 3, device=dev) * torch.tensor([1.0, 1.0, 0.3], device=dev)
    blob[:, 2] += 3.0
    blob_colors = torch.rand(n, 3, device=dev)
    eye = torch.eye(4, device=dev)
    print(f"render_points, random blob of {n:,d} points, fixed radius:")
    for radius in (None, 1.0, 2.0):
        seconds, out = _time(lambda r=radius: render_points(blob, blob_colors, K, eye, size, size, radius_px=r),
                             args.repeats, dev)
        print(f"  radius {radius!s:<5} {seconds * 1000:8.1f} ms  {n / seconds / 1e6:7.2f} M points/s"
              f"  coverage {float(out.mask.float().mean()):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
