"""Invisible Stitch: original checkpoint names -> transformers ZoeDepth, checked on the full BEiT-L layout.

The real weights cannot be downloaded here, so the mapping is checked against state dicts in the original names
and shapes (``zoedepth_original_names``): every key mapped exactly once (or a listed unused buffer), every
target shape equal to the transformers model's, then a strict load and a forward pass of a tiny model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from zoedepth_original_names import TINY, original_shapes, random_state_dict

from core.backends import invisible_stitch as IS
from core.backends import registry
from core.backends.base import DepthCompleter
from core.errors import InputError


def _meta(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    return {k: torch.empty(v, device="meta") for k, v in shapes.items()}


def test_full_beit_large_mapping_covers_every_key_with_equal_shapes() -> None:
    from transformers import ZoeDepthForDepthEstimation

    original = _meta(original_shapes())  # BEiT-L/384, 24 blocks, 5 input channels
    config = IS.config_from_original(original)
    assert config.backbone_config.hidden_size == 1024 and config.backbone_config.num_hidden_layers == 24
    assert config.backbone_config.num_channels == 5 and config.backbone_config.image_size == 384
    assert config.backbone_config.out_features == ["stage6", "stage12", "stage18", "stage24"]
    assert list(config.neck_hidden_sizes) == [256, 512, 1024, 1024]
    with torch.device("meta"):
        model = ZoeDepthForDepthEstimation(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    mapped = {k: tuple(v.shape) for k, v in IS.map_original_state_dict(original).items()}
    assert set(mapped) == set(expected)
    assert mapped == expected
    # each original key was consumed exactly once: 24 fused qkv become 72 targets; 30 unused buffers dropped
    ignored = [k for k in original if any(rx.fullmatch(k) for rx in IS._COMPILED_IGNORED)]
    assert len(ignored) == 24 + 4 + 2
    assert len(mapped) == len(original) - len(ignored) + 2 * 24


def test_unknown_key_is_reported() -> None:
    original = _meta(original_shapes(**TINY))
    original["core.core.pretrained.model.blocks.0.attn.mystery"] = torch.empty(1, device="meta")
    with pytest.raises(ValueError, match="mystery"):
        IS.map_original_state_dict(original)


def test_qkv_split_and_refinenet_order() -> None:
    original = random_state_dict(original_shapes(**TINY))
    mapped = IS.map_original_state_dict(original)
    qkv = original["core.core.pretrained.model.blocks.2.attn.qkv.weight"]
    d = qkv.shape[1]
    torch.testing.assert_close(mapped["backbone.beit.layers.2.attention.q_proj.weight"], qkv[:d])
    torch.testing.assert_close(mapped["backbone.beit.layers.2.attention.k_proj.weight"], qkv[d : 2 * d])
    torch.testing.assert_close(mapped["backbone.beit.layers.2.attention.v_proj.weight"], qkv[2 * d :])
    # MiDaS refinenet4 (deepest) runs first: transformers fusion layer 0
    torch.testing.assert_close(mapped["neck.fusion_stage.layers.0.projection.weight"],
                               original["core.core.scratch.refinenet4.out_conv.weight"])


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("is") / "invisible-stitch.pt"
    state = {"module." + k: v for k, v in random_state_dict(original_shapes(**TINY)).items()}  # DDP prefix too
    torch.save({"model": state, "epoch": 1}, path)
    return path


def test_tiny_checkpoint_loads_strictly_and_completes_depth(tiny_checkpoint: Path) -> None:
    completer = registry.build("depth_completer", f"invisible-stitch:{tiny_checkpoint}", input_size=(64, 96))
    assert isinstance(completer, DepthCompleter)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (45, 70, 3), dtype=np.uint8)
    depth = np.zeros((45, 70), np.float32)
    known = np.zeros((45, 70), bool)
    known[:, :30] = True
    depth[known] = 3.0
    out = completer(image, depth, known)
    assert out.shape == (45, 70) and out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(out[known], 3.0)  # known depth kept exactly
    assert (out[~known] > 0).all() and (out[~known] <= 10.0 + 1e-4).all()  # metric bins range
    mono = completer(image, np.zeros_like(depth), np.zeros_like(known))  # no sparse input: monocular
    assert np.isfinite(mono).all() and (mono > 0).all()


def test_network_input_channels(tiny_checkpoint: Path) -> None:
    completer = registry.build("depth_completer", f"invisible-stitch:{tiny_checkpoint}", input_size=(16, 16),
                               scaling=2.0)
    image = np.full((8, 8, 3), 255, np.uint8)
    depth = np.zeros((8, 8), np.float32)
    depth[:, :4] = 5.0
    raw = completer.raw_input(image, depth, depth > 0)
    assert raw.shape == (1, 5, 8, 8)
    assert raw[0, 3, 0, 0].item() == pytest.approx(5.0 / (10.0 * 2.0))  # depth / (max_depth x scaling)
    assert raw[0, 4].sum().item() == 32  # mask = known and depth > 0
    x = completer.network_input(raw)
    assert x.shape == (1, 5, 16, 16)
    torch.testing.assert_close(x[0, :3], torch.ones(3, 16, 16))  # (1 - 0.5) / 0.5
    assert x[0, 4, 0, 0].item() == 1.0 and x[0, 4, 0, -1].item() == 0.0


def test_reference_padding() -> None:
    assert IS.reference_padding(480, 720) == (46, 56)  # int(sqrt(240) * 3), int(sqrt(360) * 3)


def test_flip_average_is_mirror_symmetric(tiny_checkpoint: Path) -> None:
    completer = registry.build("depth_completer", f"invisible-stitch:{tiny_checkpoint}", input_size=(32, 48))
    image = np.random.default_rng(2).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    empty = np.zeros((20, 30), np.float32)
    a = completer(image, empty, empty > 0)
    b = completer(image[:, ::-1].copy(), empty, empty > 0)[:, ::-1]
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_flip_average_in_one_batch_equals_two_passes(tiny_checkpoint: Path) -> None:
    """The mirrored pass rides in the same batch as the photo; the answer is that of two separate passes."""
    completer = registry.build("depth_completer", f"invisible-stitch:{tiny_checkpoint}", input_size=(32, 48))
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    depth = np.where(rng.random((20, 30)) > 0.5, 2.5, 0).astype(np.float32)
    out = completer(image, depth, depth > 0)
    x = completer.raw_input(image, depth, depth > 0)
    with torch.inference_mode():
        one = completer._predict(completer.model, x)
        two = torch.flip(completer._predict(completer.model, torch.flip(x, dims=[3])), dims=[3])
    expected = np.clip((0.5 * (one + two))[0, 0].numpy(), IS.MIN_DEPTH, None)
    expected[depth > 0] = depth[depth > 0]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_converted_directory_gives_the_same_depth(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out_dir = IS.convert_checkpoint(tiny_checkpoint, tmp_path / "converted")
    assert (out_dir / "model.safetensors").exists()
    image = np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    depth, known = np.zeros((20, 30), np.float32), np.zeros((20, 30), bool)
    a = registry.build("depth_completer", f"invisible-stitch:{tiny_checkpoint}", input_size=(32, 48))
    b = registry.build("depth_completer", f"invisible-stitch:{out_dir}", input_size=(32, 48))
    np.testing.assert_allclose(a(image, depth, known), b(image, depth, known), rtol=1e-5, atol=1e-5)


def test_mismatched_depth_is_an_input_error(tiny_checkpoint: Path) -> None:
    completer = registry.build("depth_completer", f"invisible-stitch:{tiny_checkpoint}", input_size=(32, 32))
    with pytest.raises(InputError):
        completer(np.zeros((10, 10, 3), np.uint8), np.zeros((9, 10), np.float32), np.zeros((10, 10), bool))
