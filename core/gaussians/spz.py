"""The ``.spz`` format (Niantic's compressed Gaussian splats, about 10x smaller than a 3DGS PLY).

A gzip stream of a 16-byte little-endian header (magic ``NGSP`` = 0x5053474e, version, point count, SH degree,
fractional bits, flags, reserved) followed by one array per attribute, in this order:

* positions: 3 x 24-bit signed fixed point per Gaussian (``fractional_bits`` = 12: 0.24 mm steps, +-2048 m);
* alphas: ``sigmoid(opacity) * 255``;
* colours: the SH DC term as ``dc * 0.15 * 255 + 127.5`` (a scale below C0 leaves room for out-of-range DC);
* scales: log scales as ``(log_scale + 10) * 16``;
* rotations: version 3 stores the three smallest components of the unit quaternion (sign + 9 bits each, in units
  of sqrt(1/2)) and the index of the largest (2 bits) in 4 bytes; version 2 stored x, y, z with w >= 0 as
  ``q * 127.5 + 127.5``, which loses precision when w is small;
* SH bands above the DC term, coefficient-major with RGB inner, as ``x * 128 + 128``, rounded to 5 significant
  bits for degree 1 and 4 bits above (the rounding only helps gzip; readers need not know it).

Values are stored in the format's own axes, RUB (x right, y up, z back: OpenGL's), so the project's OpenCV
Gaussians are turned 180 degrees about x on the way out and back on the way in (``core.gaussians.axes``). This
module writes version 3 (the current one; Niantic's reader compiled to wasm reads it, see the tests) and reads
versions 2 and 3.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

from core.gaussians.axes import from_axes, to_axes
from core.gaussians.model import Gaussians, num_sh_bases
from core.io.atomic import write_bytes_atomic

MAGIC = 0x5053474E
HEADER = struct.Struct("<IIIBBBB")
FRACTIONAL_BITS = 12
COLOR_SCALE = 0.15
SH1_BITS, SH_REST_BITS = 5, 4
MAX_POINTS = 10_000_000
"""Readers (Niantic's among them) refuse larger files; so does this one, before allocating anything."""


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _quantize_sh(x: np.ndarray, bits: int) -> np.ndarray:
    bucket = 1 << (8 - bits)
    q = np.round(x * 128.0).astype(np.int64) + 128
    q = (q + bucket // 2) // bucket * bucket
    return np.clip(q, 0, 255).astype(np.uint8)


def spz_bytes(g: Gaussians) -> bytes:
    """The ``.spz`` (version 3) contents for project Gaussians ``g``."""
    g = to_axes(g.detach().to("cpu").map(lambda t: t.double()), "opengl")
    n = len(g)
    if n > MAX_POINTS:
        raise ValueError(f".spz holds at most {MAX_POINTS:,} Gaussians, got {n:,}")
    fixed = np.round(g.means.numpy() * (1 << FRACTIONAL_BITS)).astype(np.int64)
    if n and np.abs(fixed).max() >= 1 << 23:
        raise ValueError(f"a Gaussian lies beyond +-{(1 << 23) >> FRACTIONAL_BITS} m, outside .spz's fixed point")
    positions = fixed.astype("<i4").view(np.uint8).reshape(n, 3, 4)[:, :, :3]
    alphas = _u8(torch.sigmoid(g.opacity_logits).numpy() * 255.0)
    colors = _u8(g.sh[:, 0].numpy() * (COLOR_SCALE * 255.0) + 127.5)
    scales = _u8((g.log_scales.numpy() + 10.0) * 16.0)
    rotations = _rotations_smallest_three_bytes(g.quats.numpy()[:, [1, 2, 3, 0]])
    rest = g.sh[:, 1:].numpy()  # [N, K - 1, 3]: coefficient-major, RGB inner, as the format wants
    sh = np.concatenate([_quantize_sh(rest[:, :3], SH1_BITS), _quantize_sh(rest[:, 3:], SH_REST_BITS)], axis=1)
    header = HEADER.pack(MAGIC, 3, n, g.sh_degree, FRACTIONAL_BITS, 0, 0)
    body = b"".join(a.tobytes() for a in (positions, alphas, colors, scales, rotations, sh))
    return gzip.compress(header + body, compresslevel=9, mtime=0)


def save_spz(g: Gaussians, path: str | os.PathLike[str]) -> Path:
    write_bytes_atomic(path, spz_bytes(g))
    return Path(path)


def _take(raw: memoryview, offset: int, size: int, what: str) -> tuple[np.ndarray, int]:
    if offset + size > len(raw):
        raise ValueError(f".spz data ends inside the {what} array ({len(raw)} bytes, need {offset + size})")
    return np.frombuffer(raw[offset : offset + size], dtype=np.uint8), offset + size


def _rotations_smallest_three_bytes(xyzw: np.ndarray) -> np.ndarray:
    """Quaternions [N, 4] (x, y, z, w) -> version 3 rotations [N, 4] bytes (the three smallest components)."""
    q = xyzw / np.maximum(np.linalg.norm(xyzw, axis=1, keepdims=True), 1e-12)
    largest = np.abs(q).argmax(axis=1)
    negate = q[np.arange(len(q)), largest] < 0  # q and -q are one rotation: make the dropped component positive
    comp = largest.astype(np.uint32)
    for i in range(4):
        keep = largest != i
        sign = ((q[:, i] < 0) ^ negate).astype(np.uint32)
        mag = np.floor(511.0 * np.abs(q[:, i]) / np.sqrt(0.5) + 0.5).astype(np.uint32)
        comp = np.where(keep, comp << 10 | sign << 9 | mag, comp)
    return comp.astype("<u4").view(np.uint8).reshape(-1, 4)


def _rotations_smallest_three(packed: np.ndarray) -> np.ndarray:
    """Version 3 rotations [N, 4] bytes -> unit quaternions [N, 4] (x, y, z, w)."""
    comp = packed.astype(np.uint32).reshape(-1, 4)
    comp = comp[:, 0] | comp[:, 1] << 8 | comp[:, 2] << 16 | comp[:, 3] << 24
    largest = (comp >> 30).astype(np.int64)
    q = np.zeros((len(comp), 4))
    mask = (1 << 9) - 1
    for i in (3, 2, 1, 0):  # the last component packed sits in the lowest bits
        take = largest != i
        mag = (comp & mask).astype(np.float64) / mask * np.sqrt(0.5)
        negative = (comp >> 9) & 1
        q[take, i] = np.where(negative[take] == 1, -mag[take], mag[take])
        comp = np.where(take, comp >> 10, comp)
    rest = np.clip(1.0 - np.square(q).sum(axis=1), 0.0, None)
    q[np.arange(len(q)), largest] = np.sqrt(rest)
    return q


def load_spz(source: str | os.PathLike[str] | bytes) -> Gaussians:
    """Read a ``.spz`` (path or bytes; version 2 or 3) into project (OpenCV) Gaussians."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        raw = memoryview(gzip.decompress(data))
    except (OSError, EOFError) as exc:
        raise ValueError(f"not a .spz file (no gzip stream): {exc}") from exc
    if len(raw) < HEADER.size:
        raise ValueError(f".spz data is {len(raw)} bytes, shorter than its header")
    magic, version, n, degree, frac, _flags, _ = HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise ValueError(f"not a .spz file (magic {magic:#010x}, expected {MAGIC:#010x})")
    if version not in (2, 3):
        raise ValueError(f".spz version {version} is not supported (2 and 3 are)")
    if n > MAX_POINTS or degree > 4:
        raise ValueError(f".spz header claims {n:,} Gaussians of SH degree {degree}; refusing")
    k = num_sh_bases(degree) - 1
    off = HEADER.size
    pos, off = _take(raw, off, n * 9, "position")
    alphas, off = _take(raw, off, n, "alpha")
    colors, off = _take(raw, off, n * 3, "colour")
    scales, off = _take(raw, off, n * 3, "scale")
    rot, off = _take(raw, off, n * (4 if version >= 3 else 3), "rotation")
    sh, off = _take(raw, off, n * k * 3, "SH")  # anything after (version 3 extensions) is not needed here

    p = pos.reshape(n, 3, 3).astype(np.int32)
    fixed = p[..., 0] | p[..., 1] << 8 | p[..., 2] << 16
    fixed = np.where(fixed & 0x800000, fixed - (1 << 24), fixed)
    means = fixed.astype(np.float64) / (1 << frac)
    if version >= 3:
        xyzw = _rotations_smallest_three(rot)
    else:
        xyz = rot.reshape(n, 3).astype(np.float64) / 127.5 - 1.0
        xyzw = np.concatenate([xyz, np.sqrt(np.clip(1.0 - np.square(xyz).sum(1), 0.0, None))[:, None]], axis=1)
    alpha = np.clip(alphas.astype(np.float64) / 255.0, 0.5 / 255, 1 - 0.5 / 255)  # finite logits at 0 and 255
    dc = (colors.reshape(n, 1, 3).astype(np.float64) / 255.0 - 0.5) / COLOR_SCALE
    rest = (sh.reshape(n, k, 3).astype(np.float64) - 128.0) / 128.0

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    g = Gaussians(
        means=t(means),
        quats=t(xyzw[:, [3, 0, 1, 2]]),
        log_scales=t(scales.reshape(n, 3).astype(np.float64) / 16.0 - 10.0),
        opacity_logits=t(np.log(alpha / (1.0 - alpha))),
        sh=t(np.concatenate([dc, rest], axis=1)),
    )
    return from_axes(g, "opengl")
