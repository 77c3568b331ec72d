"""``gld8tr run --low-vram`` with the tiny diffusers inpainter: the flag reaches the built backends.

On CPU, low_vram's visible effect on a diffusers pipeline is attention slicing (model CPU offload needs CUDA), and
the transformers depth model records the flag it will use for its idle offload.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.backends import registry
from gld8tr.cli import main as cli_main


class _BuildSpy:
    """Keeps every backend the registry builds (the real ones, unchanged) so the test can inspect them."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.built: dict[str, Any] = {}
        self.options: dict[str, dict] = {}

    def __call__(self, kind: str, spec: str, *, device: str = "cpu", **options: Any) -> Any:
        obj = self.real(kind, spec, device=device, **options)
        self.built[kind], self.options[kind] = obj, dict(options)
        return obj


def _sliced(pipe: Any) -> bool:
    return any("Sliced" in type(p).__name__ for p in pipe.unet.attn_processors.values())


@pytest.mark.parametrize("low_vram", [True, False])
def test_low_vram_flag_reaches_the_hf_backends(low_vram: bool, tmp_path: Path, tiny_inpaint_dir: Path,
                                               tiny_depth_anything_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image
    from skimage import data

    photo = tmp_path / "photo.png"
    Image.fromarray(data.astronaut()).resize((64, 48), Image.Resampling.BILINEAR).save(photo)
    traj = tmp_path / "path.json"
    traj.write_text(json.dumps([{"yaw": 0}, {"yaw": -30}]))
    spy = _BuildSpy(registry.build)
    monkeypatch.setattr(registry, "build", spy)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "scene.ply"
    args = ["run", "--no-progress", "--image", str(photo), "--trajectory", str(traj), "--device", "cpu",
            "--inpainter", f"diffusers:{tiny_inpaint_dir}", "--depth-model", f"transformers:{tiny_depth_anything_dir}",
            "-o", str(out)] + (["--low-vram"] if low_vram else [])
    assert cli_main(args) == 0, capsys.readouterr().err

    inpainter = spy.built["inpainter"]
    assert _sliced(inpainter.pipe) is low_vram
    assert spy.built["depth_completer"].estimator.low_vram is low_vram  # aligned-mono around the transformers model
    assert spy.options["inpainter"] == spy.options["depth_completer"] == ({"low_vram": True} if low_vram else {})
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["extra"]["low_vram"] is low_vram
    assert {"backends", "inpaint", "complete"} <= set(sidecar["peak_memory_mb"])
    assert np.isfinite(list(sidecar["peak_memory_mb"].values())).all()


@pytest.mark.parametrize("low_vram", [True, False])
def test_worker_setting_low_vram_reaches_its_resident_backends(low_vram: bool, tiny_inpaint_dir: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from service.settings import Settings
    from worker.models import ResidentModels

    monkeypatch.setenv("GLD8TR_LOW_VRAM", "1" if low_vram else "0")
    settings = Settings(inpainter=f"diffusers:{tiny_inpaint_dir}", depth_model="nearest", device="cpu")
    assert settings.low_vram is low_vram
    models = ResidentModels.load(settings)
    assert _sliced(models.inpainter.pipe) is low_vram
