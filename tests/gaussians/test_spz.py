"""The .spz writer and reader: layout, axes, quantisation bounds, version 3 rotations, bad files, and agreement
with Niantic's own reader (compiled to wasm, from the npm registry)."""

from __future__ import annotations

import gzip
import json
import math
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import random_gaussians

from core.gaussians import Gaussians, load_gaussians, load_spz, save_gaussians, save_spz, spz_bytes
from core.gaussians.model import SH_C0, covariance_3d

HERE = Path(__file__).resolve().parent


def _in_range(g: Gaussians) -> Gaussians:
    """SH bands within the format's [-1, 1] and DC colours within its wide-RGB range, as fitted scenes are."""
    sh = g.sh.clone()
    sh[:, 1:] = sh[:, 1:].clamp(-1, 1)
    return Gaussians(g.means, g.quats, g.log_scales, g.opacity_logits, sh)


def _cov_rel_err(a: Gaussians, b: Gaussians) -> torch.Tensor:
    ca, cb = covariance_3d(a.quats, a.log_scales), covariance_3d(b.quats, b.log_scales)
    return (ca - cb).abs().amax((1, 2)) / cb.abs().amax((1, 2))


def test_header_axes_and_sizes() -> None:
    g = _in_range(random_gaussians(7, sh_degree=2, seed=1))
    g.means[0] = torch.tensor([1.0, 2.0, 3.0])
    raw = gzip.decompress(spz_bytes(g))
    magic, version, n, degree, frac, flags, reserved = struct.unpack_from("<IIIBBBB", raw)
    assert (magic, version, n, degree, frac, flags, reserved) == (0x5053474E, 3, 7, 2, 12, 0, 0)
    assert len(raw) == 16 + 7 * (9 + 1 + 3 + 3 + 4 + 8 * 3)
    x, y, z = (int.from_bytes(raw[16 + 3 * i : 19 + 3 * i], "little", signed=True) / 4096 for i in range(3))
    assert (x, y, z) == (1.0, -2.0, -3.0)  # OpenCV (right, down, forward) stored as RUB (right, up, back)


def test_round_trip_is_within_the_quantisation_steps(tmp_path: Path) -> None:
    g = _in_range(random_gaussians(300, sh_degree=3, seed=2))
    h = load_gaussians(save_gaussians(g, tmp_path / "scene.spz"))
    assert len(h) == 300 and h.sh_degree == 3
    assert float((h.means - g.means).abs().max()) <= 0.5 / 4096 + 1e-6
    assert float((h.log_scales - g.log_scales).abs().max()) <= 0.5 / 16 + 1e-6
    assert float((h.opacities - g.opacities).abs().max()) <= 0.5 / 255 + 1e-6
    assert float((h.sh[:, 0] - g.sh[:, 0]).abs().max()) <= 0.5 / (0.15 * 255) + 1e-6
    assert float((h.sh[:, 1:4] - g.sh[:, 1:4]).abs().max()) <= 4.5 / 128 + 1e-6  # 5 bits: steps of 8/128
    assert float((h.sh[:, 4:] - g.sh[:, 4:]).abs().max()) <= 8.5 / 128 + 1e-6  # 4 bits: steps of 16/128
    # the scale steps above (variance within exp(2 / 32)) and 9-bit quaternion components
    assert float(_cov_rel_err(h, g).max()) < 0.07
    same_scales = Gaussians(h.means, h.quats, g.log_scales, h.opacity_logits, h.sh)
    assert float(_cov_rel_err(same_scales, g).max()) < 0.01
    assert (tmp_path / "scene.spz").stat().st_size < 300 * 64  # far below the PLY's 248 bytes per Gaussian


QUATS_XYZW = np.array([[0, 0, 0, 1], [0, math.sqrt(0.5), 0, math.sqrt(0.5)], [0.5, -0.5, 0.5, -0.5]])
"""Identity, 90 degrees about y, and a 120 degree turn given with a negative largest component; in RUB axes."""


def _rub_gaussians(quats_xyzw: np.ndarray) -> Gaussians:
    """Gaussians whose stored (RUB) rotations are ``quats_xyzw``, in the project's OpenCV frame."""
    from core.gaussians.axes import from_axes

    g = _in_range(random_gaussians(len(quats_xyzw), seed=3))
    q = torch.tensor(quats_xyzw[:, [3, 0, 1, 2]], dtype=torch.float32)
    return from_axes(Gaussians(g.means, q, g.log_scales, g.opacity_logits, g.sh), "opengl")


def test_version_3_rotations_are_packed_as_the_format_says() -> None:
    """2 bits naming the largest component, then the other three as sign + 9-bit magnitude / sqrt(1/2), packed
    high to low, signs flipped so the dropped component is positive (the format's README and reference code)."""
    words = []
    for q in QUATS_XYZW:
        largest = int(np.argmax(np.abs(q)))
        negate = q[largest] < 0
        word = largest
        for i in range(4):
            if i != largest:
                word = word << 10 | (int((q[i] < 0) ^ negate) << 9) | int(511 * abs(q[i]) / math.sqrt(0.5) + 0.5)
        words.append(word)
    raw = gzip.decompress(spz_bytes(_rub_gaussians(QUATS_XYZW)))
    start = 16 + 3 * (9 + 1 + 3 + 3)
    assert struct.unpack_from("<3I", raw, start) == tuple(words)


def test_version_2_files_are_read() -> None:
    """Version 2 stores x, y, z of the quaternion with w >= 0, as q * 127.5 + 127.5 (3 bytes)."""
    g = _rub_gaussians(QUATS_XYZW)
    raw = gzip.decompress(spz_bytes(g))
    q = QUATS_XYZW * np.where(QUATS_XYZW[:, 3:] < 0, -1, 1)
    v2_rot = np.clip(np.round(q[:, :3] * 127.5 + 127.5), 0, 255).astype(np.uint8).tobytes()
    start = 16 + 3 * (9 + 1 + 3 + 3)
    v2 = raw[:4] + struct.pack("<I", 2) + raw[8:start] + v2_rot + raw[start + 12 :]
    h = load_spz(gzip.compress(v2))
    torch.testing.assert_close(h.means, g.means, atol=1 / 4096, rtol=0)
    assert float(_cov_rel_err(h, g).max()) < 0.07


def test_bad_files_are_value_errors(tmp_path: Path) -> None:
    g = random_gaussians(4, seed=4)
    good = spz_bytes(_in_range(g))
    raw = gzip.decompress(good)
    with pytest.raises(ValueError, match="gzip"):
        load_spz(b"ply\nformat binary_little_endian 1.0\n")
    with pytest.raises(ValueError, match="magic"):
        load_spz(gzip.compress(b"XXXX" + raw[4:]))
    with pytest.raises(ValueError, match="version 1"):
        load_spz(gzip.compress(raw[:4] + struct.pack("<I", 1) + raw[8:]))
    with pytest.raises(ValueError, match="ends inside"):
        load_spz(gzip.compress(raw[:-5]))
    with pytest.raises(ValueError, match="refusing"):
        load_spz(gzip.compress(raw[:8] + struct.pack("<I", 2**31) + raw[12:]))
    far = Gaussians(g.means + torch.tensor([3000.0, 0, 0]), g.quats, g.log_scales, g.opacity_logits, g.sh)
    with pytest.raises(ValueError, match="beyond"):
        save_spz(far, tmp_path / "far.spz")
    assert not (tmp_path / "far.spz").exists()


@pytest.mark.slow  # installs @spz-loader/core from the npm registry (~1 MB) and runs it in Node
@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None, reason="needs Node.js and npm")
def test_niantics_reader_decodes_our_files(tmp_path: Path) -> None:
    g = _in_range(random_gaussians(50, sh_degree=3, seed=5))
    save_spz(g, tmp_path / "scene.spz")
    pkg = tmp_path / "reader"
    pkg.mkdir()
    (pkg / "package.json").write_text('{"name": "spz-reference-reader", "private": true}')
    done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "@spz-loader/core@0.3.1"], cwd=pkg,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    shutil.copy(HERE / "spz_reference_decode.mjs", pkg / "decode.mjs")
    run = subprocess.run(["node", "decode.mjs", str(tmp_path / "scene.spz"), "RDF"], cwd=pkg, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    ref = json.loads(run.stdout)
    assert (ref["numPoints"], ref["shDegree"], ref["antialiased"]) == (50, 3, False)
    # Asked for RDF (OpenCV's axes), the reference reader hands back the project's frame.
    means = torch.tensor(ref["positions"]).view(50, 3)
    assert float((means - g.means).abs().max()) <= 0.5 / 4096 + 1e-6
    quats = torch.tensor(ref["rotations"]).view(50, 4)[:, [3, 0, 1, 2]]  # x, y, z, w -> w, x, y, z
    log_scales = torch.tensor(ref["scales"]).view(50, 3).log()  # this reader returns linear scales
    theirs = Gaussians(means, quats, log_scales, g.opacity_logits, g.sh)
    assert float(_cov_rel_err(theirs, g).max()) < 0.07
    assert float((torch.tensor(ref["alphas"]) - g.opacities).abs().max()) <= 0.5 / 255 + 1e-6
    rgb = torch.tensor(ref["colors"]).view(50, 3)  # this reader returns 0.5 + C0 * dc
    assert float((rgb - (0.5 + SH_C0 * g.sh[:, 0])).abs().max()) <= SH_C0 * 0.5 / (0.15 * 255) + 1e-5
    sh = torch.tensor(ref["sh"]).view(50, 15, 3)
    assert float((sh - g.sh[:, 1:]).abs().max()) <= 8.5 / 128 + 1e-6
