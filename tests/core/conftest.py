"""Shared fixtures for the core tests: real example photos and a real (randomly initialised) depth network."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))  # the helper modules beside the tests (scenes, pngraw)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def random_depth_ckpt(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A ``ckpt:DIR`` spec for the project's depth network with seeded random weights.

    The shipped weights may not exist on a fresh checkout; the network code path (loading, padding, resizing,
    known-depth passthrough) is what these tests exercise, and random weights still give positive metric depth.
    """
    from core.depthnet import DepthCompletionNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("depthnet") / "random"
    DepthCompletionNet().save_pretrained(path)
    return f"ckpt:{path}"


@pytest.fixture(scope="session")
def coffee_512x384(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled coffee photo resized to 512x384 (a real JPEG on disk)."""
    path = tmp_path_factory.mktemp("photos") / "coffee_512x384.jpg"
    photo = Image.open(EXAMPLES / "coffee.jpg").convert("RGB")
    photo.resize((512, 384), Image.Resampling.LANCZOS).save(path, quality=92)
    return path


def photo_array(name: str) -> np.ndarray:
    return np.asarray(Image.open(EXAMPLES / name).convert("RGB"))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """These tests run small tensors, where OpenMP's spin-waiting threads cost more than they give on a shared
    CPU (2-4x slower under load); one thread keeps the suite fast. Restored afterwards for other test folders."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
