"""Image and depth loading with validation, PLY writing, atomic output."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from plyfile import PlyData
from pngraw import bomb_png, png_bytes
from skimage import data

from core.errors import InputError
from core.io import atomic_path, crop_to_multiple, load_depth, load_image, read_ply, resize_max_side, write_ply
from core.io.depth import write_depth_png, write_pfm


def _encode(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return data.chelsea()


def test_jpeg_from_path_and_bytes_agree(tmp_path: Path, photo: np.ndarray) -> None:
    path = tmp_path / "cat.jpg"
    Image.fromarray(photo).save(path, quality=90)
    a = load_image(path)
    b = load_image(path.read_bytes())
    assert a.dtype == np.uint8 and a.shape == photo.shape
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - photo).mean() < 4  # a real decode of the real photo


@pytest.mark.parametrize(
    ("make", "expect"),
    [
        (lambda p: Image.fromarray(p).convert("L"), "gray"),
        (lambda p: Image.fromarray(np.dstack([p, np.full(p.shape[:2], 255, np.uint8)]), "RGBA"), "rgb"),
        (lambda p: Image.fromarray(p).convert("P"), "palette"),
        (lambda p: Image.fromarray(p).convert("CMYK"), "cmyk"),
    ],
)
def test_modes_are_converted(photo: np.ndarray, make, expect: str) -> None:
    fmt = "JPEG" if expect == "cmyk" else "PNG"
    out = load_image(_encode(make(photo), fmt))
    assert out.shape == photo.shape and out.dtype == np.uint8
    if expect == "gray":
        assert np.array_equal(out[..., 0], out[..., 2])
    if expect == "rgb":
        assert np.array_equal(out, photo)


def test_transparent_pixels_become_white() -> None:
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:10, :, 3] = 255
    out = load_image(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert out[0, 0].tolist() == [200, 0, 0]
    assert out[15, 0].tolist() == [255, 255, 255]


def test_sixteen_bit_inputs(photo: np.ndarray) -> None:
    rgb16 = photo.astype(np.uint16) * 257
    out = load_image(png_bytes(rgb16))
    assert np.array_equal(out, photo)
    gray16 = (photo[..., 1].astype(np.uint16) * 257)
    out = load_image(png_bytes(gray16))
    assert np.array_equal(out[..., 0], photo[..., 1])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"this is not an image at all" * 10, "not an image"),
        (bomb_png(), "MP"),
    ],
)
def test_bad_bytes_are_input_errors(payload: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_image(payload, name="upload")


def test_truncated_jpeg(photo: np.ndarray) -> None:
    data_ = _encode(Image.fromarray(photo), "JPEG")
    with pytest.raises(InputError, match="truncated"):
        load_image(data_[: len(data_) // 2])


def test_max_pixels_parameter_and_tiny_images(photo: np.ndarray) -> None:
    encoded = _encode(Image.fromarray(photo), "PNG")
    with pytest.raises(InputError, match="more than"):
        load_image(encoded, max_pixels=100_000)
    assert load_image(encoded, max_pixels=200_000).shape == photo.shape
    with pytest.raises(InputError, match="at least"):
        load_image(np.zeros((4, 4, 3), np.uint8))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "nope.jpg")


def test_resize_and_crop(photo: np.ndarray) -> None:
    small = resize_max_side(photo, 200)
    assert max(small.shape[:2]) == 200
    assert resize_max_side(photo, 1000) is photo
    cropped = crop_to_multiple(photo, 8)
    assert cropped.shape == (296, 448, 3)
    assert np.array_equal(cropped, photo[2:298, 1:449])


def test_depth_formats_round_trip(tmp_path: Path) -> None:
    depth = np.linspace(0.5, 6.0, 24 * 32, dtype=np.float32).reshape(24, 32)
    depth[0, 0] = 0.0
    write_depth_png(tmp_path / "d.png", depth)
    np.save(tmp_path / "d.npy", depth)
    write_pfm(tmp_path / "d.pfm", depth)
    png = load_depth(tmp_path / "d.png", expected_shape=(24, 32))
    assert np.abs(png - depth).max() <= 0.0005 + 1e-6  # millimetre quantisation
    assert np.array_equal(load_depth(tmp_path / "d.npy"), depth)
    assert np.array_equal(load_depth(tmp_path / "d.pfm"), depth)


def test_depth_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "d.npy", np.ones((10, 12), np.float32))
    with pytest.raises(InputError, match="12x10 but the image is 32x24"):
        load_depth(tmp_path / "d.npy", expected_shape=(24, 32))
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match="not a depth map"):
        load_depth(tmp_path / "rgb.png")
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_depth(tmp_path / "empty.npy")
    np.save(tmp_path / "zeros.npy", np.zeros((10, 12), np.float32))
    with pytest.raises(InputError, match="no valid"):
        load_depth(tmp_path / "zeros.npy")


def test_ply_is_binary_little_endian_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(500, 3)).astype(np.float32)
    cols = rng.integers(0, 256, size=(500, 3), dtype=np.uint8)
    normals = rng.normal(size=(500, 3)).astype(np.float32)
    path = write_ply(tmp_path / "c.ply", pts, cols, normals)
    ply = PlyData.read(str(path))
    assert ply.text is False and ply.byte_order == "<"
    names = [p.name for p in ply["vertex"].properties]
    assert names == ["x", "y", "z", "nx", "ny", "nz", "red", "green", "blue"]
    assert ply["vertex"]["red"].dtype == np.uint8
    p2, c2, n2 = read_ply(path)
    assert np.array_equal(p2, pts) and np.array_equal(c2, cols) and np.array_equal(n2, normals)
    assert list(tmp_path.iterdir()) == [path]  # no temporary left behind


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.ply"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"


@pytest.mark.parametrize("umask", [None, 0o027])
def test_atomic_files_honour_the_umask(tmp_path: Path, umask: int | None) -> None:
    """mkstemp creates 0600 files; the final file must get 0o666 & ~umask like any plain open(..., "w")."""
    import os
    import stat

    from core.io.atomic import write_bytes_atomic

    previous = os.umask(umask if umask is not None else 0o022)
    if umask is None:  # the process's own umask
        os.umask(previous)
    try:
        current = os.umask(0)
        os.umask(current)
        target = tmp_path / "out.ply"
        write_bytes_atomic(target, b"data")
        assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~current
        plain = tmp_path / "plain.bin"
        plain.write_bytes(b"x")
        assert stat.S_IMODE(plain.stat().st_mode) == stat.S_IMODE(target.stat().st_mode)
    finally:
        os.umask(previous)
