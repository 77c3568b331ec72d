"""``gld8tr view FILE``: open a point-cloud PLY, a Gaussian PLY, a ``.splat`` or a ``.spz`` in the browser viewer.

Starts a local server (``core.viewer.server``) bound to localhost and opens the page in the default browser;
Ctrl-C stops it. Light to import: nothing heavy is loaded, not even torch.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import webbrowser
from pathlib import Path

from core.errors import InputError

log = logging.getLogger("gld8tr.view")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a .ply (points, mesh or 3DGS Gaussians), .splat, .spz or .glb file")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: localhost only)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser; just print the URL")
    parser.add_argument(
        "--axes", choices=("opencv", "opengl"), default="opencv",
        help="frame of a .splat file (PLY files written by gld8tr carry their frame in the header)",
    )
    parser.add_argument("--fov", type=float, default=None,
                        help="horizontal field of view of the start camera in degrees (default: from the sidecar "
                             "JSON beside FILE, else 53.13)")


def sidecar_fov(path: Path) -> float | None:
    """Horizontal FOV of the input camera from the JSON written beside a scene (``gld8tr run``) or Gaussian file
    (``--gaussians``), so the viewer opens on the photo's framing; None when there is no readable sidecar."""
    sidecar = path.with_suffix(".json")
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        if "fov_deg" in data:
            return float(data["fov_deg"])
        intr = data["cameras"][0]["intrinsics"]
        return math.degrees(2 * math.atan(0.5 * float(intr["width"]) / float(intr["fx"])))
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def main(args: argparse.Namespace) -> int:
    from core.viewer.server import ViewerServer

    path: Path = args.file
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".ply", ".splat", ".spz", ".glb"):
        raise InputError(f"{path.name}: the viewer reads .ply, .splat, .spz and .glb files, not "
                         f"{suffix or 'extensionless'} ones")
    if suffix == ".glb" and not path.open("rb").read(4) == b"glTF":
        raise InputError(f"{path.name} is not a GLB file (no 'glTF' magic)")
    if suffix == ".ply" and not path.open("rb").read(3) == b"ply":
        raise InputError(f"{path.name} is not a PLY file (no 'ply' magic)")
    if suffix == ".spz" and not path.open("rb").read(2) == b"\x1f\x8b":
        raise InputError(f"{path.name} is not a .spz file (not gzip-compressed)")
    if suffix == ".splat" and path.stat().st_size % 32:
        raise InputError(f"{path.name} is not a .splat file (size is not a multiple of 32 bytes)")
    fov = args.fov if args.fov is not None else sidecar_fov(path)
    server = ViewerServer(path, host=args.host, port=args.port, axes=args.axes, fov_deg=fov)
    sys.stdout.write(f"viewer for {path.name}: {server.url}  (Ctrl-C to stop)\n")
    sys.stdout.flush()
    if not args.no_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopping the viewer")
    finally:
        server.httpd.server_close()
    return 0
