"""The refiner network: shapes, save / load, and refining a fused volume (tiny random model, as the rules ask)."""

from __future__ import annotations

import torch

from core.mesh.refine import RefineNetConfig, VolumeRefineNet, refine_volume, volume_features
from core.mesh.tsdf import TSDFVolume


def test_forward_shapes_and_round_trip(tmp_path):
    torch.manual_seed(0)
    net = VolumeRefineNet(RefineNetConfig(base_channels=4, levels=2)).eval()
    x = volume_features(torch.rand(1, 16, 16, 16) * 2 - 1, torch.ones(1, 16, 16, 16))
    tsdf, outer, inner = net(x)
    assert tsdf.shape == outer.shape == inner.shape == (1, 16, 16, 16)
    assert tsdf.abs().max() <= 1
    net.save_pretrained(tmp_path)
    back = VolumeRefineNet.from_pretrained(tmp_path)
    assert back.config == net.config
    assert torch.equal(back(x)[0], tsdf)


def test_refine_volume_covers_the_dilated_blocks():
    """A wall fused at z = 1: the refined volume lives on the fused blocks and their neighbours only."""
    vol = TSDFVolume(0.1, with_color=True)
    K = torch.tensor([[20.0, 0, 15.5], [0, 20.0, 11.5], [0, 0, 1]])
    vol.integrate(torch.ones(24, 32), K, torch.eye(4), torch.full((24, 32, 3), 100, dtype=torch.uint8))
    net = VolumeRefineNet(RefineNetConfig(base_channels=4, levels=2)).eval()
    with torch.no_grad():
        # Make every voxel "in the band" so the output weight is 1 wherever the network ran.
        net.head.bias.data[1:] = 10.0
        out = refine_volume(vol, net, chunk=16, halo=8)
    fused = {tuple(c) for c in vol.block_coords().tolist()}
    refined = {tuple(c) for c in out.block_coords().tolist()}
    assert fused <= refined
    assert all(min(max(abs(a - b) for a, b in zip(r, f, strict=True)) for f in fused) <= 1 for r in refined)
    assert float(out.weight.sum()) > 0


def test_shipped_checkpoint_loads():
    from core.mesh.refine import SHIPPED_RECON_DIR

    net = VolumeRefineNet.from_pretrained(SHIPPED_RECON_DIR)
    assert net.config.voxel_size == 0.04 and (SHIPPED_RECON_DIR / "MODEL_CARD.md").is_file()
