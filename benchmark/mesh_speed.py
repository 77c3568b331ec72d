"""Speed, memory and accuracy of the two TSDF fusion backends on one synthetic 640x480 sequence.

    python -m benchmark.mesh_speed --frames 50 --voxel 0.02 --threads 1 --out outputs/bench/mesh_speed.json

The sequence (a smooth path through a procedural room, exact depth) is rendered once and cached as an npz; each
backend then runs in its own fresh process (so peak resident memory is its own): frames fused per second,
marching-cubes time, the process's peak RSS above its baseline after loading the frames, the volume's own bytes,
and F@5cm of its mesh against the exact surface seen from the frames (:mod:`core.mesh.metrics`).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import resource
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("gld8tr.mesh_speed")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


class RssSampler:
    """The largest current RSS seen every 5 ms while active (``ru_maxrss`` cannot be reset after loading)."""

    def __init__(self) -> None:
        import threading

        self.peak = self.base = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_mb())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def render_sequence(path: Path, frames: int, height: int, width: int, seed: int) -> None:
    from training.recon.data import BENCH_SEED_START, synthetic_sequence

    seq = synthetic_sequence(BENCH_SEED_START + seed, frames, height, width)
    np.savez(path, images=np.stack([f.image for f in seq.frames]), depths=np.stack([f.depth for f in seq.frames]),
             Ks=np.stack([f.K for f in seq.frames]), poses=np.stack([f.cam_to_world for f in seq.frames]))


def _run_backend(backend: str, npz: str, voxel: float, threads: int, device: str, queue) -> None:
    import torch

    from core.mesh.metrics import lift_depths, point_metrics, render_depth, voxel_downsample
    from core.mesh.reconstruct import make_volume

    torch.set_num_threads(threads)
    z = np.load(npz)
    images, depths, Ks, poses = z["images"], z["depths"], z["Ks"], z["poses"]
    with RssSampler() as rss:  # after loading the frames: what fusion and meshing add on top is theirs
        vol = make_volume(voxel, 3.0, backend, device)
        t0 = time.perf_counter()
        for img, d, K, pose in zip(images, depths, Ks, poses, strict=True):
            vol.integrate(d, K, pose, img)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        fuse_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        mesh = vol.extract_mesh()
        mesh_s = time.perf_counter() - t1
    peak = rss.peak - rss.base
    H, W = depths.shape[1:]
    gt = voxel_downsample(lift_depths(list(depths), list(Ks), list(poses), stride=2))
    pred = voxel_downsample(lift_depths(render_depth(mesh, list(Ks[::2]), list(poses[::2]), H, W),
                                        list(Ks[::2]), list(poses[::2]), stride=2))
    m = point_metrics(pred, gt)
    queue.put({"backend": backend, "device": device, "frames": len(images), "fuse_s": fuse_s,
               "frames_per_s": len(images) / fuse_s, "mesh_s": mesh_s,
               "peak_rss_above_base_mb": peak, "peak_rss_mb": _peak_rss_mb(),
               "volume_mb": vol.nbytes() / 2**20, "blocks": vol.num_blocks, "faces": int(len(mesh.faces)),
               "fscore": m["fscore"], "acc": m["acc"], "comp": m["comp"]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--voxel", type=float, default=0.02)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backends", default="torch,open3d")
    parser.add_argument("--device", default="cpu", help="device of the torch backend")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path("outputs/bench/mesh_speed_sequence.npz"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.cache.is_file():
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        log.info("rendering %d frames at %dx%d", args.frames, args.width, args.height)
        render_sequence(args.cache, args.frames, args.height, args.width, args.seed)
    ctx = mp.get_context("spawn")
    rows = []
    for backend in args.backends.split(","):
        q = ctx.Queue()
        p = ctx.Process(target=_run_backend, args=(backend, str(args.cache), args.voxel, args.threads,
                                                   args.device if backend == "torch" else "cpu", q))
        p.start()
        rows.append(q.get())
        p.join()
        log.info("%s", json.dumps(rows[-1]))
    print("| backend | frames/s | mesh s | peak RSS MB (above frames) | volume MB | blocks | faces | F@5cm | Acc m "
          "| Comp m |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['backend']} ({r['device']}) | {r['frames_per_s']:.2f} | {r['mesh_s']:.2f} | "
              f"{r['peak_rss_mb']:.0f} ({r['peak_rss_above_base_mb']:.0f}) | {r['volume_mb']:.0f} | {r['blocks']} | "
              f"{r['faces']} | "
              f"{r['fscore']:.3f} | {r['acc']:.4f} | {r['comp']:.4f} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
