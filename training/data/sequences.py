"""One posed sequence for ``gld8tr reconstruct``, strictly checked: ScanNet export, TUM RGB-D or ICL-NUIM.

Training readers skip what they cannot use; a user's reconstruction instead stops with an
:class:`core.errors.InputError` that names the file at fault (a missing or non-finite pose, colour / depth / pose
counts that disagree, a folder in another layout than ``--format``), before anything is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from core.errors import InputError
from training.data.decode import read_depth_png, read_rgb
from training.data.frame import Frame, FrameSequence
from training.data.scannet import read_matrix
from training.data.tum import ICLNUIMReader, TUMReader, is_tum_sequence

SequenceFormat = Literal["scannet", "tum", "icl"]
FORMATS: tuple[str, ...] = ("scannet", "tum", "icl")


def _is_scannet(folder: Path) -> bool:
    return all((folder / sub).is_dir() for sub in ("color", "depth", "pose"))


def detect_format(folder: Path) -> str | None:
    if _is_scannet(folder):
        return "scannet"
    if is_tum_sequence(folder):
        return "tum"
    return None


def _numbered(folder: Path, suffix: str) -> dict[int, Path]:
    return {int(p.stem): p for p in folder.glob(f"*{suffix}") if p.stem.isdigit()}


def open_scannet(folder: Path, *, use_depth: bool, frame_step: int = 1) -> FrameSequence:
    color = _numbered(folder / "color", ".jpg")
    depth = _numbered(folder / "depth", ".png")
    pose = _numbered(folder / "pose", ".txt")
    if not color:
        raise InputError(f"{folder / 'color'} holds no numbered .jpg frames")
    if len(pose) != len(color) or (use_depth and len(depth) != len(color)):
        raise InputError(
            f"{folder}: mismatched frame counts: color/ {len(color)}, depth/ {len(depth)}, pose/ {len(pose)}"
        )
    ids = sorted(color)[:: max(1, frame_step)]
    for n in ids:
        p = folder / "pose" / f"{n}.txt"
        if n not in pose:
            raise InputError(f"{p} is missing (colour frame {color[n].name} has no pose)")
        if use_depth and n not in depth:
            raise InputError(f"{folder / 'depth' / f'{n}.png'} is missing")
        try:
            m = read_matrix(p)
        except ValueError as exc:
            raise InputError(f"{p}: not a 4x4 matrix ({exc})") from exc
        if not np.isfinite(m).all():
            raise InputError(f"{p}: non-finite pose (tracking lost); drop the frame or pass --skip-invalid-poses")
    intr_path = folder / "intrinsic" / ("intrinsic_depth.txt" if use_depth else "intrinsic_color.txt")
    if not intr_path.is_file():
        raise InputError(f"{intr_path} is missing")
    K_file = read_matrix(intr_path)[:3, :3].astype(np.float32)

    def load(fid: str) -> Frame:
        n = int(fid)
        if use_depth:
            d = read_depth_png(depth[n], 1000.0)
            H, W = d.shape
            image = read_rgb(color[n], size=(W, H))
        else:
            image = read_rgb(color[n])
            H, W = image.shape[:2]
            d = np.zeros((H, W), np.float32)
        return Frame(image, d, K_file.copy(), read_matrix(pose[n]).astype(np.float32), folder.name, fid)

    return FrameSequence([str(n) for n in ids], load)


def open_sequence(root: str | Path, fmt: str, *, use_depth: bool = True, frame_step: int = 1,
                  skip_invalid_poses: bool = False) -> FrameSequence:
    """The frames of the sequence at ``root`` in layout ``fmt`` (checked: see the module docstring)."""
    root = Path(root)
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not root.is_dir():
        raise InputError(f"sequence folder {root} does not exist")
    found = detect_format(root)
    if found is None:
        subs = [p for p in sorted(root.iterdir()) if p.is_dir() and detect_format(p)]
        if len(subs) == 1:
            root, found = subs[0], detect_format(subs[0])
    expected = "scannet" if fmt == "scannet" else "tum"
    if found is None:
        need = "color/, depth/ and pose/" if fmt == "scannet" else "rgb.txt, depth.txt and groundtruth.txt"
        raise InputError(f"{root} is not a {fmt} sequence (needs {need})")
    if found != expected:
        hint = "scannet" if found == "scannet" else "tum or icl"
        raise InputError(f"{root} is laid out as {found}, not as {fmt}: use --format {hint}")
    if fmt == "scannet":
        if skip_invalid_poses:
            from training.data.scannet import ScanNetReader

            reader = ScanNetReader(root.parent, frame_step=frame_step)
            return reader.frames(root.name)
        return open_scannet(root, use_depth=use_depth, frame_step=frame_step)
    cls = ICLNUIMReader if fmt == "icl" else TUMReader
    reader = cls(root, strict=not skip_invalid_poses, frame_step=frame_step, require_depth=use_depth)
    return reader.frames(reader.scene_ids()[0])
