"""``gld8tr models list|pull NAME``: show which named models are in the local cache, prefetch them.

``pull`` is meant for a machine with network (an image build step, an operator's laptop syncing a shared
``HF_HOME``); workers then run with ``HF_HUB_OFFLINE=1`` and fail fast with a message naming the missing model.
"""

from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="registry models and whether their weights are installed")
    listing.add_argument("--installed", action="store_true", help="only show models present in the cache")
    listing.add_argument("--cache-dir", default=None, help="hub cache (default: HF_HUB_CACHE / HF_HOME)")
    pull = sub.add_parser("pull", help="download a registry model (or any hub id) into the cache")
    pull.add_argument("name", help="registry name (see `gld8tr models list`) or a hub id org/name")
    pull.add_argument("--revision", default=None, help="branch, tag or commit (default: the registry's)")
    pull.add_argument("--cache-dir", default=None, help="hub cache (default: HF_HUB_CACHE / HF_HOME)")
    pull.add_argument("--convert-to", default=None, metavar="DIR",
                      help="invisible-stitch only: also write a safetensors copy (config.json + model.safetensors)")


def _list(args: argparse.Namespace) -> int:
    from core.models import MODELS, installed

    rows = [("NAME", "KIND", "BACKEND", "REPO@REVISION", "DTYPE", "INSTALLED")]
    for entry in MODELS.values():
        path = installed(entry, args.cache_dir)
        if args.installed and path is None:
            continue
        rows.append((entry.name, entry.kind, entry.backend, f"{entry.repo_id}@{entry.revision}", entry.dtype,
                     str(path) if path else "no"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1] + "\n")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from core.models import MODELS, pull

    path = pull(args.name, revision=args.revision, cache_dir=args.cache_dir)
    if args.convert_to:
        entry = MODELS.get(args.name)
        if entry is None or entry.backend != "invisible-stitch":
            log.warning("--convert-to only applies to invisible-stitch checkpoints; ignored")
        else:
            from core.backends.invisible_stitch import convert_checkpoint

            converted = convert_checkpoint(path, args.convert_to)
            sys.stdout.write(f"converted to {converted} (use invisible-stitch:{converted})\n")
    sys.stdout.write(f"{args.name}: {path}\n")
    return 0


def main(args: argparse.Namespace) -> int:
    return _list(args) if args.action == "list" else _pull(args)
