"""The depth net's per-pixel mixture of classical fills and its row-coordinate input (issue 15)."""

from __future__ import annotations

import pytest
import torch

from core.depthnet import DepthCompletionNet, DepthNetConfig
from core.depthnet.model import nearest_fill
from tests.training.test_net import _inputs, _randomised
from training.trainer import _warm_start

PLAIN = DepthNetConfig(base_channels=8, channel_mults=(1, 2, 4), groups=4, fill_prior="laplacian")
MIXED = DepthNetConfig(base_channels=8, channel_mults=(1, 2, 4), groups=4, fill_prior="laplacian",
                       mixture_priors=("background", "nearest"), row_coordinate=True)


def test_config_counts_channels_and_rejects_unknown_fills() -> None:
    assert MIXED.in_channels == PLAIN.in_channels + 3 and MIXED.out_channels == 4 and PLAIN.out_channels == 1
    with pytest.raises(ValueError, match="mixture_priors"):
        DepthNetConfig(fill_prior="laplacian", mixture_priors=("median",))
    with pytest.raises(ValueError, match="mixture_priors"):
        DepthNetConfig(fill_prior="none", mixture_priors=("nearest",))


def test_a_dominant_logit_returns_that_fill_and_nothing_known_ignores_the_fills() -> None:
    net = _randomised(MIXED)
    rgb, depth, mask = _inputs()
    with torch.no_grad():
        mono_before = net.predict_log(rgb, torch.zeros_like(depth), torch.zeros_like(mask))
        net.head[-1].bias[3] = 60.0  # the nearest fill's logit (own, background, nearest)
        chosen = net.predict_log(rgb, depth, mask)
        mono_after = net.predict_log(rgb, torch.zeros_like(depth), torch.zeros_like(mask))
        log_s = net.reference_log_scale(depth, mask)[:, None, None, None]
        known = (mask > 0.5) & (depth > 0)
        ratio = (depth.clamp_min(1e-6).log() - log_s) * known
        expected = nearest_fill(ratio, known) + log_s
    torch.testing.assert_close(chosen, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(mono_after, mono_before)


def test_mixture_net_stays_scale_equivariant_and_round_trips(tmp_path) -> None:
    net = _randomised(MIXED, seed=2)
    rgb, depth, mask = _inputs(seed=3)
    with torch.no_grad():
        a, b = net(rgb, depth, mask), net(rgb, 2.5 * depth, mask)
    torch.testing.assert_close(b, 2.5 * a, rtol=1e-4, atol=1e-5)
    net.save_pretrained(tmp_path / "ckpt")
    loaded = DepthCompletionNet.from_pretrained(tmp_path / "ckpt")
    assert loaded.config == net.config
    with torch.no_grad():
        assert torch.equal(loaded(rgb, depth, mask), a)


def test_warm_start_into_a_mixture_net_keeps_the_monocular_prediction(tmp_path) -> None:
    """New inputs and logits start at zero: with nothing known the grown net is the source net exactly, and with
    depth known it is the uniform mixture of the source's prediction and the fills."""
    src = _randomised(PLAIN, seed=4)
    src.save_pretrained(tmp_path / "src")
    grown = DepthCompletionNet(MIXED)
    _warm_start(grown, str(tmp_path / "src"))
    grown.eval()
    rgb, depth, mask = _inputs(seed=5)
    zero = torch.zeros_like(depth)
    with torch.no_grad():
        torch.testing.assert_close(grown.predict_log(rgb, zero, zero), src.predict_log(rgb, zero, zero))
        own = src.predict_log(rgb, depth, mask)
        mixed = grown.predict_log(rgb, depth, mask)
    assert not torch.allclose(mixed, own)


def test_row_coordinate_is_the_last_input_channel_and_moves_the_prediction() -> None:
    net = _randomised(MIXED)
    rgb, depth, mask = _inputs(b=1, h=23, w=17)
    x, _, _ = net._inputs(rgb, depth, mask)
    assert x.shape[1] == MIXED.in_channels
    torch.testing.assert_close(x[0, -1, :, 5], torch.linspace(-1, 1, 23))
    assert torch.equal(x[0, -1], x[0, -1, :, :1].expand(23, 17))
    with torch.no_grad():
        before = net.predict_log(rgb, depth, mask)
        net.stem.weight[:, -1] += 0.5
        after = net.predict_log(rgb, depth, mask)
    assert not torch.allclose(before, after)


def test_without_the_image_input_the_photo_changes_nothing_but_the_image_guided_fills(tmp_path) -> None:
    from dataclasses import replace

    blind = replace(MIXED, image_input=False)
    net = _randomised(blind, seed=4)
    rgb, depth, mask = _inputs(seed=5)
    other = torch.rand_like(rgb)
    with torch.no_grad():
        torch.testing.assert_close(net(other, depth, mask), net(rgb, depth, mask))  # no image-guided fill here
        seeing = _randomised(MIXED, seed=4)
        assert not torch.allclose(seeing(other, depth, mask), seeing(rgb, depth, mask))
    # the flag is saved with the weights, and a seeing checkpoint warm-starts a blind net (same weight shapes)
    seeing.save_pretrained(tmp_path / "seeing")
    _warm_start(net, str(tmp_path / "seeing"))
    net.save_pretrained(tmp_path / "blind")
    assert DepthCompletionNet.from_pretrained(tmp_path / "blind").config.image_input is False
