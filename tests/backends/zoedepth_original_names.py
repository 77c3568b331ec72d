"""Names and shapes of an original ZoeDepth (MiDaS BEiT) state dict, written down from the original modules.

Independent of the mapping under test: this lists what ``ZoeDepth(MidasCore(DPTDepthModel(BEiT)))`` registers,
module by module, as in the isl-org/ZoeDepth and isl-org/MiDaS code (timm BEiT blocks with fused qkv and
separate q/v biases, ``act_postprocessN`` readout/reassemble sequences, ``scratch`` fusion blocks and head,
ZoeDepth's seed regressor, projectors, attractors and conditional log-binomial). Includes the parameters and
buffers that are present in the file but unused (classifier head, position index, binomial constants).
"""

from __future__ import annotations

import torch


def original_shapes(
    *,
    layers: int = 24,
    hidden: int = 1024,
    heads: int = 16,
    mlp_ratio: int = 4,
    window: int = 24,
    patch: int = 16,
    in_channels: int = 5,
    neck: tuple[int, int, int, int] = (256, 512, 1024, 1024),
    features: int = 256,
    relative_features: int = 32,
    n_bins: int = 64,
    bin_embedding: int = 128,
    attractors: tuple[int, ...] = (16, 8, 4, 1),
    num_classes: int = 1000,
) -> dict[str, tuple[int, ...]]:
    s: dict[str, tuple[int, ...]] = {}
    beit = "core.core.pretrained.model."
    s[beit + "cls_token"] = (1, 1, hidden)
    s[beit + "patch_embed.proj.weight"] = (hidden, in_channels, patch, patch)
    s[beit + "patch_embed.proj.bias"] = (hidden,)
    tokens = window * window + 1
    for i in range(layers):
        b = f"{beit}blocks.{i}."
        s[b + "gamma_1"] = (hidden,)
        s[b + "gamma_2"] = (hidden,)
        s[b + "norm1.weight"] = s[b + "norm1.bias"] = (hidden,)
        s[b + "attn.q_bias"] = s[b + "attn.v_bias"] = (hidden,)
        s[b + "attn.relative_position_bias_table"] = ((2 * window - 1) ** 2 + 3, heads)
        s[b + "attn.relative_position_index"] = (tokens, tokens)
        s[b + "attn.qkv.weight"] = (3 * hidden, hidden)
        s[b + "attn.proj.weight"] = (hidden, hidden)
        s[b + "attn.proj.bias"] = (hidden,)
        s[b + "norm2.weight"] = s[b + "norm2.bias"] = (hidden,)
        s[b + "mlp.fc1.weight"] = (mlp_ratio * hidden, hidden)
        s[b + "mlp.fc1.bias"] = (mlp_ratio * hidden,)
        s[b + "mlp.fc2.weight"] = (hidden, mlp_ratio * hidden)
        s[b + "mlp.fc2.bias"] = (hidden,)
    s[beit + "fc_norm.weight"] = s[beit + "fc_norm.bias"] = (hidden,)
    s[beit + "head.weight"] = (num_classes, hidden)
    s[beit + "head.bias"] = (num_classes,)
    # MiDaS readout + reassemble: 0 readout projection, 3 conv1x1, 4 resize (x4 / x2 transposed, none, /2 conv)
    pre = "core.core.pretrained."
    resize = {1: (neck[0], neck[0], 4, 4), 2: (neck[1], neck[1], 2, 2), 4: (neck[3], neck[3], 3, 3)}
    for k in range(1, 5):
        s[f"{pre}act_postprocess{k}.0.project.0.weight"] = (hidden, 2 * hidden)
        s[f"{pre}act_postprocess{k}.0.project.0.bias"] = (hidden,)
        s[f"{pre}act_postprocess{k}.3.weight"] = (neck[k - 1], hidden, 1, 1)
        s[f"{pre}act_postprocess{k}.3.bias"] = (neck[k - 1],)
        if k in resize:
            s[f"{pre}act_postprocess{k}.4.weight"] = resize[k]
            s[f"{pre}act_postprocess{k}.4.bias"] = (resize[k][1],)
    sc = "core.core.scratch."
    for k in range(1, 5):
        s[f"{sc}layer{k}_rn.weight"] = (features, neck[k - 1], 3, 3)
        s[f"{sc}refinenet{k}.out_conv.weight"] = (features, features, 1, 1)
        s[f"{sc}refinenet{k}.out_conv.bias"] = (features,)
        for unit in (1, 2):
            for conv in (1, 2):
                s[f"{sc}refinenet{k}.resConfUnit{unit}.conv{conv}.weight"] = (features, features, 3, 3)
                s[f"{sc}refinenet{k}.resConfUnit{unit}.conv{conv}.bias"] = (features,)
    s[sc + "output_conv.0.weight"] = (features // 2, features, 3, 3)
    s[sc + "output_conv.0.bias"] = (features // 2,)
    s[sc + "output_conv.2.weight"] = (relative_features, features // 2, 3, 3)
    s[sc + "output_conv.2.bias"] = (relative_features,)
    s[sc + "output_conv.4.weight"] = (1, relative_features, 1, 1)
    s[sc + "output_conv.4.bias"] = (1,)
    # ZoeDepth metric head (bottleneck = MiDaS features; hidden widths 256 / 128 as in the original modules)
    s["conv2.weight"] = (features, features, 1, 1)
    s["conv2.bias"] = (features,)
    s["seed_bin_regressor._net.0.weight"] = (256, features, 1, 1)
    s["seed_bin_regressor._net.0.bias"] = (256,)
    s["seed_bin_regressor._net.2.weight"] = (n_bins, 256, 1, 1)
    s["seed_bin_regressor._net.2.bias"] = (n_bins,)
    s["seed_projector._net.0.weight"] = (128, features, 1, 1)
    s["seed_projector._net.0.bias"] = (128,)
    s["seed_projector._net.2.weight"] = (bin_embedding, 128, 1, 1)
    s["seed_projector._net.2.bias"] = (bin_embedding,)
    for i, n_attr in enumerate(attractors):
        s[f"projectors.{i}._net.0.weight"] = (128, features, 1, 1)
        s[f"projectors.{i}._net.0.bias"] = (128,)
        s[f"projectors.{i}._net.2.weight"] = (bin_embedding, 128, 1, 1)
        s[f"projectors.{i}._net.2.bias"] = (bin_embedding,)
        s[f"attractors.{i}._net.0.weight"] = (128, bin_embedding, 1, 1)
        s[f"attractors.{i}._net.0.bias"] = (128,)
        s[f"attractors.{i}._net.2.weight"] = (n_attr, 128, 1, 1)
        s[f"attractors.{i}._net.2.bias"] = (n_attr,)
    cond_in = relative_features + 1 + bin_embedding
    s["conditional_log_binomial.mlp.0.weight"] = (cond_in // 2, cond_in, 1, 1)
    s["conditional_log_binomial.mlp.0.bias"] = (cond_in // 2,)
    s["conditional_log_binomial.mlp.2.weight"] = (4, cond_in // 2, 1, 1)
    s["conditional_log_binomial.mlp.2.bias"] = (4,)
    s["conditional_log_binomial.log_binomial_transform.k_idx"] = (1, n_bins, 1, 1)
    s["conditional_log_binomial.log_binomial_transform.K_minus_1"] = (1, 1, 1, 1)
    return s


TINY = {
    "layers": 4, "hidden": 32, "heads": 2, "window": 4, "patch": 16, "neck": (8, 16, 32, 32), "features": 16,
    "relative_features": 8, "n_bins": 8, "bin_embedding": 128, "attractors": (4, 2, 2, 1), "num_classes": 10,
}
"""A tiny configuration with the same naming scheme (BEiT 4 x 32, window 4 = 64 px training size)."""


def random_state_dict(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors of the given shapes; index buffers get integer dtype as in the file."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        if key.endswith("relative_position_index"):
            out[key] = torch.zeros(shape, dtype=torch.long)
        else:
            out[key] = torch.randn(shape, generator=gen) * 0.02
    return out
