"""How exactly the generation loop puts points on the true surfaces, given exact depth.

The scene is ``benchmark.box_room.BoxRoom`` (a textured room with a solid box, ray-cast analytically), the depth
completer an oracle that returns each camera's exact depth (``RoomOracle``) and the inpainter PatchMatch, so what
is measured is the geometry of the loop itself: unprojection, the renderer's masks, edge snapping at silhouettes
and the merge of new points. Every point's distance to the nearest true surface is exact (``surface_distance``).

    python -m benchmark.lift_geometry [--modes single,stage,360] [--width 128] [--height 96] [--threads 1]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np
import torch

from benchmark.box_room import BoxRoom, RoomOracle, room_cameras
from core.backends.patchmatch_inpainter import PatchMatchInpainter
from core.pipeline import generate_scene
from core.trajectory import poses_for_mode

log = logging.getLogger(__name__)


def lift_errors(mode: str, width: int, height: int) -> tuple[np.ndarray, int, float]:
    """Distance of every generated point to the room's true surfaces, the number of views and the seconds taken."""
    room = BoxRoom()
    cams = room_cameras(poses_for_mode(mode), width, height)
    image, depth = room.photo(cams[0])
    t0 = time.perf_counter()
    scene = generate_scene(image, mode=mode, depth=depth, inpainter=PatchMatchInpainter(),
                           depth_model=RoomOracle(room, cams), device="cpu")
    return room.surface_distance(scene.points), len(scene.cameras), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="single,stage,360")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    print(f"points lifted from exact depth vs the true surfaces of a box room, {args.width}x{args.height}, "
          "oracle depth, PatchMatch inpainting")
    print(f"  {'mode':<7} {'views':>5} {'points':>9} {'median m':>10} {'p99.5 m':>9} {'> 1 mm':>8} {'> 1 cm':>8}"
          f" {'max m':>7} {'s':>6}")
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        err, views, seconds = lift_errors(mode, args.width, args.height)
        print(f"  {mode:<7} {views:>5} {len(err):>9,d} {np.median(err):>10.2e} {np.percentile(err, 99.5):>9.4f}"
              f" {(err > 1e-3).mean():>8.2%} {(err > 1e-2).mean():>8.2%} {err.max():>7.3f} {seconds:>6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
