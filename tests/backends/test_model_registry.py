"""Named models: resolution through the hub cache, clear errors when absent, ``gld8tr models``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import models
from core.backends import registry
from core.errors import InputError, ModelNotAvailableError


def _install_into_cache(cache: Path, repo_id: str, source: Path, revision: str = "main") -> Path:
    """Lay ``source`` out as huggingface_hub's cache does: refs/<revision> -> snapshots/<commit>/files."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / revision).write_text(commit)
    snapshot = repo_dir / "snapshots" / commit
    shutil.copytree(source, snapshot)
    return snapshot


@pytest.mark.parametrize(
    ("kind", "spec", "name"),
    [
        ("inpainter", "sd2-inpainting", "sd2-inpainting"),
        ("inpainter", "diffusers", "sd2-inpainting"),
        ("depth_estimator", "transformers", "depth-anything-v2-small"),
        ("depth_estimator", "transformers:dpt-large", "dpt-large"),
        ("depth_completer", "invisible-stitch", "invisible-stitch"),
    ],
)
def test_missing_weights_name_the_model_and_the_fix(offline_empty_cache: Path, kind: str, spec: str, name: str) -> None:
    with pytest.raises(ModelNotAvailableError) as info:
        registry.build(kind, spec)
    message = str(info.value)
    assert repr(name) in message and f"gld8tr models pull {name}" in message
    assert "HF_HUB_OFFLINE" in message


def test_unknown_hub_id_is_not_available(offline_empty_cache: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="someone/some-depth-model"):
        registry.build("depth_estimator", "transformers:someone/some-depth-model")


def test_model_of_another_backend_is_an_input_error(offline_empty_cache: Path) -> None:
    with pytest.raises(InputError, match="transformers model"):
        registry.build("inpainter", "diffusers:depth-anything-v2-small")


def test_registry_name_loads_from_the_hub_cache(offline_empty_cache: Path, tiny_depth_anything_dir: Path) -> None:
    entry = models.get("depth-anything-v2-small")
    assert models.installed(entry) is None
    snapshot = _install_into_cache(offline_empty_cache, entry.repo_id, tiny_depth_anything_dir)
    assert models.installed(entry) == snapshot
    est = registry.build("depth_estimator", "depth-anything-v2-small")  # a bare registry name is a spec
    assert est.name == "transformers:depth-anything-v2-small"
    depth = est(np.full((20, 30, 3), 128, np.uint8))
    assert depth.shape == (20, 30)


def _gld8tr(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gld8tr", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env}, timeout=120)


def test_models_list_and_pull_cli(offline_empty_cache: Path, tiny_depth_anything_dir: Path) -> None:
    env = {"HF_HUB_CACHE": str(offline_empty_cache), "HF_HUB_OFFLINE": "1"}
    listing = _gld8tr("models", "list", env=env)
    assert listing.returncode == 0, listing.stderr
    assert "sd2-community/stable-diffusion-2-inpainting" in listing.stdout
    assert all(line.rstrip().endswith("no") for line in listing.stdout.splitlines()[1:])
    snapshot = _install_into_cache(offline_empty_cache, "depth-anything/Depth-Anything-V2-Small-hf",
                                   tiny_depth_anything_dir)
    installed = _gld8tr("models", "list", "--installed", env=env)
    lines = installed.stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith("depth-anything-v2-small") and str(snapshot) in lines[1]
    pulled = _gld8tr("models", "pull", "sd2-inpainting", env=env)
    assert pulled.returncode == 3 and "HF_HUB_OFFLINE" in pulled.stderr
    bad = _gld8tr("models", "pull", "no-such-model", env=env)
    assert bad.returncode == 2 and "sd2-inpainting" in bad.stderr


def test_shipped_and_checkpoint_network_specs_reject_wrong_arguments() -> None:
    with pytest.raises(InputError, match="takes no argument"):
        registry.build_depth_completer("gld8tr:/some/dir")
    with pytest.raises(InputError, match="ckpt:DIR"):
        registry.build_depth_estimator("ckpt")
    assert registry.build_depth_estimator("gld8tr").name == "gld8tr"
