"""Tiny Hugging Face checkpoints, built once per session into a temp dir (no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("transformers")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny models on a shared CI box: thread start-up and contention cost ~10x more than the maths."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf_tiny")


@pytest.fixture(scope="session")
def tiny_inpaint_dir(tiny_dir: Path) -> Path:
    from core.backends.hf_tiny import build_tiny_inpaint_pipeline

    return build_tiny_inpaint_pipeline(tiny_dir / "sd-inpaint")


@pytest.fixture(scope="session")
def tiny_dpt_dir(tiny_dir: Path) -> Path:
    from core.backends.hf_tiny import build_tiny_dpt

    return build_tiny_dpt(tiny_dir / "dpt")


@pytest.fixture(scope="session")
def tiny_depth_anything_dir(tiny_dir: Path) -> Path:
    from core.backends.hf_tiny import build_tiny_depth_anything

    return build_tiny_depth_anything(tiny_dir / "depth-anything")


@pytest.fixture()
def photo() -> np.ndarray:
    """A real photograph (scikit-image's astronaut), downsampled to 48 x 64."""
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((64, 48), Image.Resampling.BILINEAR))


@pytest.fixture()
def offline_empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache with the hub offline: every registry model is absent."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache
