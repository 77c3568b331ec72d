"""Minimal PNG encoder for test inputs Pillow cannot write (16-bit RGB) or must not allocate (huge headers)."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(array: np.ndarray) -> bytes:
    """Encode uint8 or uint16 gray [H, W] / RGB [H, W, 3] as PNG (filter 0 on every row)."""
    a = np.asarray(array)
    h, w = a.shape[:2]
    depth = 16 if a.dtype == np.uint16 else 8
    color = 2 if a.ndim == 3 else 0
    rows = a.astype(">u2" if depth == 16 else "u1").reshape(h, -1)
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid PNG header announcing ``width`` x ``height`` with a tiny (incomplete) body: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
