"""``gld8tr run`` end to end with the tiny diffusers inpainter and transformers depth model (subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


@pytest.mark.slow
def test_gld8tr_run_stage_with_tiny_hf_models(tmp_path: Path, tiny_inpaint_dir: Path,
                                              tiny_depth_anything_dir: Path) -> None:
    from PIL import Image
    from plyfile import PlyData
    from skimage import data

    photo = tmp_path / "photo.png"
    Image.fromarray(data.astronaut()).resize((64, 48), Image.Resampling.BILINEAR).save(photo)
    out = tmp_path / "scene.ply"
    cmd = [sys.executable, "-m", "gld8tr", "run", "--image", str(photo), "--mode", "stage", "--device", "cpu",
           "--inpainter", f"diffusers:{tiny_inpaint_dir}", "--depth-model", f"transformers:{tiny_depth_anything_dir}",
           "-o", str(out), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    vertices = PlyData.read(str(out))["vertex"]
    assert vertices.count > 48 * 64  # the input view plus points from the inpainted views
    xyz = np.stack([vertices["x"], vertices["y"], vertices["z"]], axis=1)
    assert np.isfinite(xyz).all() and (xyz[:, 2] > 0).any()
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["backends"]["inpainter"] == f"diffusers:{tiny_inpaint_dir}"
    assert sidecar["backends"]["depth_model"] == f"aligned-mono:transformers:{tiny_depth_anything_dir}"
