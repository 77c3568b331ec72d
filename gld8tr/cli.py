"""The ``gld8tr`` command: one entry point, one subcommand per job.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``main(args) -> int``; only the
chosen module is imported, so ``gld8tr serve`` never loads torch and ``gld8tr run --help`` loads neither torch
nor FastAPI. Every user mistake (``core.errors.InputError``) ends as one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from core import __version__
from core.errors import InputError, ModelNotAvailableError

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("gld8tr.commands.run", "generate a 3D scene (PLY) from one photo and a prompt"),
    "reconstruct": ("gld8tr.commands.reconstruct", "posed image sequence (ScanNet, TUM, ICL-NUIM) to a mesh"),
    "train": ("training.cli", "train the depth net (task: camera / splatter / recon: camera module / splats / "
              "mesh refiner)"),
    "benchmark": ("benchmark.cli", "score depth completion (--task camera: camera recovery; --task mesh: meshes) "
                  "against ground truth"),
    "serve": ("gld8tr.commands.serve", "run the web service (embedded single-machine mode by default)"),
    "worker": ("gld8tr.commands.worker", "run a Celery GPU worker"),
    "models": ("gld8tr.commands.models", "list or prefetch model weights"),
    "view": ("gld8tr.commands.view", "open a PLY or Gaussian splat file in the browser viewer"),
    "render-video": ("gld8tr.commands.render_video", "render a fly-through MP4 of splats or points"),
}

log = logging.getLogger("gld8tr")


def _top_parser() -> argparse.ArgumentParser:
    epilog = "commands:\n" + "\n".join(f"  {name:<10} {desc}" for name, (_, desc) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="gld8tr",
        description="Gld8tr-3dcn: one photo in, a 3D scene out.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gld8tr {__version__}")
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND", help="one of the commands below")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv or argv[0].startswith("-"):
        top.parse_args(argv or ["--help"])
        return 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        top.error(f"unknown command {command!r} (choose from {', '.join(sorted(COMMANDS))})")
    module_name, description = COMMANDS[command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"gld8tr {command}", description=description)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(module.main(args) or 0)
    except InputError as exc:
        print(f"gld8tr {command}: error: {exc}", file=sys.stderr)
        return 2
    except ModelNotAvailableError as exc:
        print(f"gld8tr {command}: model not available: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"gld8tr {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
