"""The depth network: shapes, scale equivariance, save/load, and the backends built on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.backends import registry
from core.depthnet import DepthCompletionNet, DepthNetConfig
from core.errors import InputError, ModelNotAvailableError

TINY = DepthNetConfig(base_channels=8, channel_mults=(1, 2, 4), groups=4)


def _randomised(config: DepthNetConfig = TINY, seed: int = 0) -> DepthCompletionNet:
    """A net whose zero-initialised head is perturbed, so outputs depend on every input."""
    torch.manual_seed(seed)
    net = DepthCompletionNet(config)
    with torch.no_grad():
        for p in net.head.parameters():
            p.normal_(0, 0.1)
    return net.eval()


def _inputs(b: int = 2, h: int = 37, w: int = 53, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(b, 3, h, w, generator=g)
    depth = 1 + 4 * torch.rand(b, 1, h, w, generator=g)
    mask = (torch.rand(b, 1, h, w, generator=g) > 0.5).float()
    return rgb, depth * mask, mask


@pytest.mark.parametrize("size", [(37, 53), (8, 8), (3, 5), (64, 96)])
def test_any_size_gives_positive_depth_of_the_same_size(size: tuple[int, int]) -> None:
    net = _randomised()
    rgb, depth, mask = _inputs(h=size[0], w=size[1])
    out = net(rgb, depth, mask)
    assert out.shape == (2, 1, *size)
    assert torch.isfinite(out).all() and (out > 0).all()


def test_known_depth_conditioning_is_scale_equivariant() -> None:
    net = _randomised()
    rgb, depth, mask = _inputs()
    with torch.no_grad():
        a = net(rgb, depth, mask)
        b = net(rgb, 3.7 * depth, mask)
    torch.testing.assert_close(b, 3.7 * a, rtol=1e-4, atol=1e-5)


def test_known_depth_changes_the_prediction_and_empty_mask_is_monocular() -> None:
    net = _randomised()
    rgb, depth, mask = _inputs()
    with torch.no_grad():
        cond = net(rgb, depth, mask)
        mono = net(rgb, torch.zeros_like(depth), torch.zeros_like(mask))
        mono_scaled_input = net(rgb, 0 * depth, torch.zeros_like(mask))
    assert not torch.allclose(cond, mono)
    torch.testing.assert_close(mono, mono_scaled_input)


def test_flip_average_is_mirror_equivariant_at_inference_and_single_pass_in_training(tmp_path) -> None:
    plain = _randomised(seed=5)
    flipped = DepthCompletionNet(DepthNetConfig(**{**TINY.to_dict(), "flip_average": True}))
    flipped.load_state_dict(plain.state_dict())
    flipped.eval()
    rgb, depth, mask = _inputs(seed=2)
    with torch.no_grad():
        once = plain.predict_log(rgb, depth, mask)
        mirrored_once = plain.predict_log(rgb.flip(-1), depth.flip(-1), mask.flip(-1)).flip(-1)
        assert not torch.allclose(once, mirrored_once)  # the net alone is not mirror-symmetric
        avg = flipped.predict_log(rgb, depth, mask)
        torch.testing.assert_close(avg, 0.5 * (once + mirrored_once))
        # The average of a mirrored input is the mirrored average (up to float summation order).
        torch.testing.assert_close(flipped.predict_log(rgb.flip(-1), depth.flip(-1), mask.flip(-1)).flip(-1), avg)
        flipped.train()
        torch.testing.assert_close(flipped.predict_log(rgb, depth, mask), once)
    flipped.save_pretrained(tmp_path / "ckpt")
    assert DepthCompletionNet.from_pretrained(tmp_path / "ckpt").config.flip_average is True


def test_save_load_round_trip_gives_identical_outputs(tmp_path) -> None:
    net = _randomised(seed=3)
    rgb, depth, mask = _inputs(seed=1)
    net.save_pretrained(tmp_path / "ckpt", metrics={"hole_absrel": 0.1})
    loaded = DepthCompletionNet.from_pretrained(tmp_path / "ckpt")
    assert loaded.config == net.config
    assert json.loads((tmp_path / "ckpt" / "metrics.json").read_text()) == {"hole_absrel": 0.1}
    with torch.no_grad():
        assert torch.equal(net(rgb, depth, mask), loaded(rgb, depth, mask))


def test_half_precision_checkpoint_is_smaller_and_close(tmp_path) -> None:
    net = _randomised(DepthNetConfig(), seed=4)
    net.save_pretrained(tmp_path / "fp32")
    net.save_pretrained(tmp_path / "fp16", half=True)
    size32 = (tmp_path / "fp32" / "model.safetensors").stat().st_size
    size16 = (tmp_path / "fp16" / "model.safetensors").stat().st_size
    assert size16 < 0.55 * size32
    rgb, depth, mask = _inputs(h=32, w=48)
    loaded = DepthCompletionNet.from_pretrained(tmp_path / "fp16")
    assert next(loaded.parameters()).dtype == torch.float32
    with torch.no_grad():
        torch.testing.assert_close(loaded(rgb, depth, mask), net(rgb, depth, mask), rtol=2e-2, atol=1e-3)


def test_missing_checkpoint_is_reported_as_not_available(tmp_path) -> None:
    with pytest.raises(ModelNotAvailableError, match="no depth-network checkpoint"):
        DepthCompletionNet.from_pretrained(tmp_path / "nothing-here")


def test_mismatched_weights_do_not_half_load(tmp_path) -> None:
    _randomised().save_pretrained(tmp_path / "ckpt")
    DepthNetConfig(base_channels=16, channel_mults=(1, 2, 4), groups=4).save(tmp_path / "ckpt" / "config.json")
    with pytest.raises(RuntimeError):
        DepthCompletionNet.from_pretrained(tmp_path / "ckpt")


@pytest.fixture()
def ckpt_dir(tmp_path):
    _randomised(seed=5).save_pretrained(tmp_path / "ckpt")
    return tmp_path / "ckpt"


@pytest.mark.parametrize("max_side", [None, 40])
def test_completer_backend_keeps_known_pixels_exactly(ckpt_dir, max_side) -> None:
    completer = registry.build("depth_completer", f"ckpt:{ckpt_dir}", max_side=max_side)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)
    depth = rng.uniform(1, 5, (60, 90)).astype(np.float32)
    known = np.zeros((60, 90), bool)
    known[:, :50] = True
    out = completer(image, np.where(known, depth, 0), known)
    assert out.shape == (60, 90) and out.dtype == np.float32
    np.testing.assert_array_equal(out[known], depth[known])
    assert np.isfinite(out).all() and (out[~known] > 0).all()


def test_estimator_backend_is_the_completer_with_nothing_known(ckpt_dir) -> None:
    estimator = registry.build("depth_estimator", f"ckpt:{ckpt_dir}")
    completer = registry.build("depth_completer", f"ckpt:{ckpt_dir}")
    image = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    mono = estimator(image)
    assert mono.shape == (48, 64) and (mono > 0).all()
    np.testing.assert_array_equal(mono, completer(image, np.zeros((48, 64), np.float32), np.zeros((48, 64), bool)))
    assert estimator.name == f"ckpt:{ckpt_dir}"


def test_backend_rejects_mismatched_inputs(ckpt_dir) -> None:
    completer = registry.build("depth_completer", f"ckpt:{ckpt_dir}")
    with pytest.raises(InputError):
        completer(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 11), np.float32), np.zeros((10, 11), bool))
    with pytest.raises(InputError):
        completer(np.zeros((10, 10, 3), np.float32), np.zeros((10, 10), np.float32), np.zeros((10, 10), bool))


def test_push_pull_fill_keeps_known_values_and_interpolates_between_them() -> None:
    from core.depthnet.model import push_pull_fill

    values = torch.zeros(1, 1, 9, 13)
    known = torch.zeros_like(values)
    values[..., :4], known[..., :4] = 1.0, 1.0
    values[..., 10:], known[..., 10:] = 3.0, 1.0
    filled = push_pull_fill(values, known)
    torch.testing.assert_close(filled[known > 0], values[known > 0])
    holes = filled[..., 4:10]
    assert (holes >= 1.0 - 1e-5).all() and (holes <= 3.0 + 1e-5).all()
    assert float(push_pull_fill(torch.ones(1, 1, 6, 7), torch.zeros(1, 1, 6, 7)).abs().max()) == 0.0


def test_background_fill_takes_the_far_side_of_a_depth_edge_and_keeps_known_values() -> None:
    from core.depthnet.model import background_fill

    # Two images of odd size: a near (log 0) / far (log 2) edge with a hole strip on the edge, and nothing known.
    values = torch.zeros(2, 1, 9, 13)
    known = torch.zeros(2, 1, 9, 13)
    values[0, :, :, :5], values[0, :, :, 8:] = 0.0, 2.0
    known[0, :, :, :5], known[0, :, :, 8:] = 1.0, 1.0
    values[0, :, 2, 1] = -1.0  # a nearer known pixel must survive unchanged
    filled = background_fill(values, known)
    assert filled.shape == values.shape
    torch.testing.assert_close(filled[known > 0], values[known > 0])
    # Columns 5-7 border the near side (column 5 is nearest to it) yet must take the far depth.
    torch.testing.assert_close(filled[0, 0, :, 5:8], torch.full((9, 3), 2.0))
    assert float(filled[1].abs().max()) == 0.0
    # Pixels sharing neither a row nor a column with known depth fall back to the max pyramid: one known pixel
    # must reach the whole image.
    lone = torch.zeros(1, 1, 9, 13)
    lone[0, 0, 0, 0] = 1.0
    torch.testing.assert_close(background_fill(lone * 3.0, lone), torch.full((1, 1, 9, 13), 3.0))


def test_laplacian_prior_is_the_exact_harmonic_fill_per_image() -> None:
    from core.backends.classical_fill import laplacian_fill as classical
    from core.depthnet.model import laplacian_fill

    values = torch.zeros(2, 1, 6, 9)
    known = torch.zeros(2, 1, 6, 9)
    values[0, 0, :, 0], values[0, 0, :, -1] = 1.0, 4.0  # two known columns: a linear ramp between them
    known[0, 0, :, 0] = known[0, 0, :, -1] = 1.0
    filled = laplacian_fill(values, known)
    torch.testing.assert_close(filled[0, 0], torch.linspace(1.0, 4.0, 9).expand(6, 9))
    assert float(filled[1].abs().max()) == 0.0  # nothing known: no fill
    rng = np.random.default_rng(3)
    v = rng.normal(size=(7, 11)).astype(np.float32)
    k = rng.random((7, 11)) < 0.3
    got = laplacian_fill(torch.from_numpy(v)[None, None], torch.from_numpy(k)[None, None].float())[0, 0].numpy()
    np.testing.assert_allclose(got, classical(np.where(k, v, 0), k), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[k], v[k])


def test_meet_known_removes_the_step_at_the_seam_and_fades_into_the_hole() -> None:
    from core.depthnet.model import SEAM_FADE_PX, DepthCompletionNet

    H, W = 4, 40
    truth = torch.linspace(0.0, 1.1, W).expand(1, 1, H, W).clone()  # log depth, a ramp
    known = torch.zeros(1, 1, H, W)
    known[..., :10] = 1.0
    depth = truth.exp() * known
    pred_log = truth + 0.05  # a network that strays by 5% everywhere
    met = DepthCompletionNet.meet_known(pred_log, depth, known)
    torch.testing.assert_close(met[known > 0], truth[known > 0])  # equal on the known pixels
    # in the hole the correction is the stray of the nearest known pixel, faded with the distance to it
    want = pred_log[0, 0, 0, 10:] - 0.05 * torch.exp(-torch.arange(1, W - 9) / SEAM_FADE_PX)
    torch.testing.assert_close(met[0, 0, 0, 10:], want)
    empty = torch.zeros_like(known)
    assert torch.equal(DepthCompletionNet.meet_known(pred_log, depth * 0, empty), pred_log)


def test_torch_nearest_fill_matches_the_exact_distance_transform() -> None:
    from core.backends.classical_fill import nearest_fill as exact_nearest_fill
    from core.depthnet.model import nearest_fill

    rng = np.random.default_rng(0)
    values = rng.uniform(1, 5, (3, 41, 67)).astype(np.float32)
    known = np.zeros_like(values, dtype=bool)
    known[0, :, :20] = True  # a strip, as a camera turn leaves
    known[1] = rng.random((41, 67)) < 0.02  # sparse points
    filled = nearest_fill(torch.from_numpy(values)[:, None], torch.from_numpy(known)[:, None].float())[:, 0].numpy()
    for i in range(2):
        exact = exact_nearest_fill(values[i], known[i])
        assert np.mean(filled[i] != exact) < 0.01  # jump flooding may pick another seed at (near-)ties only
        np.testing.assert_array_equal(filled[i][known[i]], values[i][known[i]])
    assert (filled[2] == 0).all()  # nothing known: no fill
