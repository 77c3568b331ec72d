"""SplatterNet: the geometric oracle, scale equivariance, persistence, gradients and the errors users meet."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.camera import Intrinsics, pose_from_yaw_pitch, unproject_depth
from core.errors import InputError
from core.splatter import SplatterConfig, SplatterNet

TINY = SplatterConfig(base_channels=4, channel_mults=(1, 2), groups=2)


def _inputs(h: int = 12, w: int = 16, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    rgb = torch.rand(1, 3, h, w, generator=gen)
    depth = 1.0 + 3.0 * torch.rand(1, 1, h, w, generator=gen)
    K = Intrinsics.from_fov(w, h, 60.0).matrix()[None]
    return rgb, K, depth


def _perturbed(config: SplatterConfig = TINY, seed: int = 1) -> SplatterNet:
    """A net whose zero-initialised head is given random weights, so every output departs from its guess."""
    torch.manual_seed(seed)
    net = SplatterNet(config)
    with torch.no_grad():
        net.head[-1].weight.normal_(0, 0.05)
        net.head[-1].bias.normal_(0, 0.05)
    return net.eval()


def test_known_depth_lands_exactly_on_the_unprojected_points():
    rgb, K, depth = _inputs()
    net = SplatterNet(TINY).eval()  # the last layer starts at zero: no correction, no offset
    pose = pose_from_yaw_pitch(25.0, -10.0, (0.3, -0.2, 1.5))
    with torch.no_grad():
        maps = net(rgb, K, depth)
        g = SplatterNet.gaussians(maps, 0, pose)
    expected = unproject_depth(depth[0, 0], K[0], pose).reshape(-1, 3)
    torch.testing.assert_close(g.means, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(maps["depth"][0], depth[0, 0], atol=1e-5, rtol=1e-5)
    # The colour is the pixel's own, the size a fraction of its footprint, the rotation the camera's.
    torch.testing.assert_close(g.rgb, rgb[0].permute(1, 2, 0).reshape(-1, 3), atol=1e-5, rtol=1e-5)
    footprint = depth[0, 0].reshape(-1) / K[0, 0, 0] * TINY.init_scale_px
    torch.testing.assert_close(g.scales, footprint[:, None].expand(-1, 3), atol=1e-6, rtol=1e-5)
    from core.gaussians.model import quat_to_rotmat

    torch.testing.assert_close(quat_to_rotmat(g.quats), pose[:3, :3].expand(len(g), 3, 3), atol=1e-5, rtol=1e-5)


def test_scaling_the_input_depth_scales_the_scene():
    rgb, K, depth = _inputs()
    net = _perturbed()
    with torch.no_grad():
        a, b = net(rgb, K, depth), net(rgb, K, 3.0 * depth)
    torch.testing.assert_close(b["means"], 3.0 * a["means"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(b["log_scales"], a["log_scales"] + np.log(3.0), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(b["sh"], a["sh"])


def test_rgb_only_net_ignores_depth_channels_and_unknown_pixels_take_the_reference():
    rgb, K, depth = _inputs()
    net = SplatterNet(SplatterConfig(depth_input=False, base_channels=4, channel_mults=(1, 2), groups=2))
    with torch.no_grad():
        z = net(rgb, K, None)["depth"]
    torch.testing.assert_close(z, torch.full_like(z, float(np.exp(net.config.mono_log_scale))))
    holes = depth.clone()
    holes[..., :4] = 0
    with torch.no_grad():
        z = SplatterNet(TINY)(rgb, K, holes)["depth"][0]
    median = float(holes[holes > 0].log().median().exp())
    torch.testing.assert_close(z[:, :4], torch.full_like(z[:, :4], median), atol=1e-4, rtol=1e-4)


def test_save_and_load_roundtrip(tmp_path):
    rgb, K, depth = _inputs()
    net = _perturbed()
    net.save_pretrained(tmp_path / "ckpt", metrics={"x": 1})
    loaded = SplatterNet.from_pretrained(tmp_path / "ckpt")
    assert loaded.config == net.config
    with torch.no_grad():
        torch.testing.assert_close(loaded(rgb, K, depth)["means"], net(rgb, K, depth)["means"])


def test_bad_inputs_give_clear_errors(tmp_path):
    rgb, K, depth = _inputs()
    net = SplatterNet(TINY)
    with pytest.raises(InputError, match="3 channels"):
        net(torch.rand(1, 4, 12, 16), K, depth)
    with pytest.raises(InputError, match="depth must be"):
        net(rgb, K, depth[..., :8])
    with pytest.raises(InputError, match="K must be"):
        net(rgb, K[0], depth)


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    from core.depthnet import DepthCompletionNet, DepthNetConfig

    DepthCompletionNet(DepthNetConfig(base_channels=4, channel_mults=(1, 2), groups=2)).save_pretrained(tmp_path / "d")
    with pytest.raises(InputError, match="gld8tr-depth-unet"):
        SplatterNet.from_pretrained(tmp_path / "d")
    # Same model type, weights of a different size: named, not half-loaded.
    SplatterNet(TINY).save_pretrained(tmp_path / "s")
    SplatterConfig(base_channels=8, channel_mults=(1, 2), groups=2).save(tmp_path / "s" / "config.json")
    with pytest.raises(InputError, match="wrong shape"):
        SplatterNet.from_pretrained(tmp_path / "s")


def test_gradients_through_the_reference_renderer_match_finite_differences():
    """Net -> per-pixel Gaussians -> the reference rasteriser -> loss: autograd agrees with central differences."""
    from core.camera import Camera
    from core.gaussians.rasterize import rasterize_reference

    rgb, K, depth = (t.double() for t in _inputs(8, 10))
    net = _perturbed().double()
    cam = Camera(Intrinsics.from_matrix(K[0], 10, 8), pose_from_yaw_pitch(4.0, 0.0, (0.15, 0.0, 0.0)).double())
    target = torch.rand(8, 10, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def loss() -> torch.Tensor:
        g = SplatterNet.gaussians(net(rgb, K, depth), 0)
        return ((rasterize_reference(g, cam).image - target) ** 2).sum()

    bias = net.head[-1].bias
    net.zero_grad()
    loss().backward()
    grad = bias.grad.clone()
    for channel in (0, 1, 3, 4, 5, 12):  # depth, offset x / z, opacity, scale, colour
        with torch.no_grad():
            h = 1e-5
            bias[channel] += h
            up = float(loss())
            bias[channel] -= 2 * h
            down = float(loss())
            bias[channel] += h
        numeric = (up - down) / (2 * h)
        assert abs(numeric - float(grad[channel])) <= 1e-4 * max(1.0, abs(numeric)), (channel, numeric, grad[channel])


def test_ray_aligned_splats_keep_their_pixel_and_footprint_in_the_input_view():
    """However far a ray-aligned splat stretches along its ray, it projects onto its own pixel with the footprint
    of its lateral scale: the input view's blur does not depend on what the net does for novel views."""
    from core.camera import Camera, Intrinsics
    from core.gaussians.rasterize import camera_tensors, project_gaussians

    config = SplatterConfig(base_channels=4, channel_mults=(1, 2), groups=2, ray_aligned=True, init_scale_px=0.3)
    rgb, K, depth = _inputs()
    cam = Camera(Intrinsics.from_fov(16, 12, 60.0), torch.eye(4))
    Kc, w2c, w, h = camera_tensors(cam, "cpu", torch.float32)
    footprints = []
    for ray_gain in (0.0, 3.0):
        net = SplatterNet(config).eval()
        with torch.no_grad():
            net.head[-1].bias[7] = ray_gain  # the along-ray scale head
            maps = net(rgb, K, depth)
        g = SplatterNet.gaussians(maps, 0)
        proj = project_gaussians(g, Kc, w2c, w, h)
        u, v = torch.meshgrid(torch.arange(12.0), torch.arange(16.0), indexing="ij")
        pix = torch.stack([v.reshape(-1), u.reshape(-1)], dim=-1)[proj["ids"]]
        torch.testing.assert_close(proj["means2d"].detach(), pix, atol=1e-3, rtol=0)
        footprints.append(proj["conics"].detach()[torch.argsort(proj["ids"])])
        scales = g.log_scales.exp()
        assert torch.allclose(scales[:, 2] / scales[:, 0], torch.full_like(scales[:, 0], math.exp(ray_gain)), rtol=1e-4)
    torch.testing.assert_close(footprints[0], footprints[1], atol=1e-3, rtol=1e-3)
