"""DepthCompleter ``invisible-stitch[:PATH]``: the published Invisible Stitch depth-completion checkpoint.

The original network is ZoeDepth (MiDaS BEiT-L/384 backbone, DPT neck, metric bins head, max depth 10 m) whose
patch embedding takes 5 channels: RGB normalised with mean = std = 0.5, sparse depth / (10 x scaling), and the
sparse-depth mask. The checkpoint (hub ``paulengstler/invisible-stitch``, file ``invisible-stitch.pt``) stores
the state dict under ``"model"`` in the original module names (timm BEiT inside MiDaS inside ZoeDepth).

We rebuild it on transformers' ``ZoeDepthForDepthEstimation`` with ``backbone_config.num_channels = 5`` and
translate the original parameter names with an explicit rule table (:data:`RULES`): every original key must be
matched by exactly one rule (or be a known unused/derived buffer, :data:`IGNORED`), no target may be produced
twice, and the result is loaded strictly. The architecture sizes are read from the checkpoint's shapes, so the
same code loads the full BEiT-L model and the tiny test models.

``PATH`` may be the original ``.pt`` file or a directory written by :func:`convert_checkpoint`
(``config.json`` + ``model.safetensors``); without ``PATH`` the registry model ``invisible-stitch`` is used.
What has and has not been verified against the real weights is stated in docs/MODELS.md.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import InputError, ModelNotAvailableError

log = logging.getLogger(__name__)

INPUT_SIZE = (384, 512)
"""(height, width) the network runs at, as in the original inference code."""

MAX_DEPTH = 10.0
MIN_DEPTH = 1e-3

_BEIT = r"core\.core\.pretrained\.model\."
_MIDAS = r"core\.core\."
_WB = r"(weight|bias)"


def _one_based(index: str) -> int:
    return int(index) - 1


# (original-name regex, function of the match -> transformers name). Order does not matter: patterns are
# anchored (fullmatch) and mutually exclusive, which map_original_state_dict checks for every key.
RULES: list[tuple[str, Callable[[re.Match[str]], str]]] = [
    # BEiT embeddings and blocks (timm names -> transformers v5 names)
    (_BEIT + r"cls_token", lambda m: "backbone.beit.embeddings.cls_token"),
    (_BEIT + rf"patch_embed\.proj\.{_WB}", lambda m: f"backbone.beit.embeddings.patch_embeddings.projection.{m[1]}"),
    (_BEIT + rf"blocks\.(\d+)\.norm1\.{_WB}", lambda m: f"backbone.beit.layers.{m[1]}.layernorm_before.{m[2]}"),
    (_BEIT + rf"blocks\.(\d+)\.norm2\.{_WB}", lambda m: f"backbone.beit.layers.{m[1]}.layernorm_after.{m[2]}"),
    (_BEIT + rf"blocks\.(\d+)\.mlp\.(fc1|fc2)\.{_WB}", lambda m: f"backbone.beit.layers.{m[1]}.mlp.{m[2]}.{m[3]}"),
    (_BEIT + r"blocks\.(\d+)\.gamma_([12])", lambda m: f"backbone.beit.layers.{m[1]}.lambda_{m[2]}"),
    (_BEIT + rf"blocks\.(\d+)\.attn\.proj\.{_WB}", lambda m: f"backbone.beit.layers.{m[1]}.attention.o_proj.{m[2]}"),
    (_BEIT + r"blocks\.(\d+)\.attn\.q_bias", lambda m: f"backbone.beit.layers.{m[1]}.attention.q_proj.bias"),
    (_BEIT + r"blocks\.(\d+)\.attn\.v_bias", lambda m: f"backbone.beit.layers.{m[1]}.attention.v_proj.bias"),
    (
        _BEIT + r"blocks\.(\d+)\.attn\.relative_position_bias_table",
        lambda m: f"backbone.beit.layers.{m[1]}.relative_position_bias.relative_position_bias_table",
    ),
    # the fused qkv projection is split into three targets (see _split_qkv)
    (_BEIT + r"blocks\.(\d+)\.attn\.qkv\.weight", lambda m: f"backbone.beit.layers.{m[1]}.attention.{{q,k,v}}_proj"),
    # MiDaS readout + reassemble ("act_postprocessN": 0 = readout projection, 3 = 1x1 conv, 4 = resize)
    (
        _MIDAS + rf"pretrained\.act_postprocess([1-4])\.0\.project\.0\.{_WB}",
        lambda m: f"neck.reassemble_stage.readout_projects.{_one_based(m[1])}.0.{m[2]}",
    ),
    (
        _MIDAS + rf"pretrained\.act_postprocess([1-4])\.3\.{_WB}",
        lambda m: f"neck.reassemble_stage.layers.{_one_based(m[1])}.projection.{m[2]}",
    ),
    (
        _MIDAS + rf"pretrained\.act_postprocess([124])\.4\.{_WB}",
        lambda m: f"neck.reassemble_stage.layers.{_one_based(m[1])}.resize.{m[2]}",
    ),
    # MiDaS scratch: per-level 3x3 convs, fusion blocks (refinenet4 is the deepest = first fusion layer), head
    (_MIDAS + r"scratch\.layer([1-4])_rn\.weight", lambda m: f"neck.convs.{_one_based(m[1])}.weight"),
    (
        _MIDAS + rf"scratch\.refinenet([1-4])\.out_conv\.{_WB}",
        lambda m: f"neck.fusion_stage.layers.{4 - int(m[1])}.projection.{m[2]}",
    ),
    (
        _MIDAS + rf"scratch\.refinenet([1-4])\.resConfUnit([12])\.conv([12])\.{_WB}",
        lambda m: f"neck.fusion_stage.layers.{4 - int(m[1])}.residual_layer{m[2]}.convolution{m[3]}.{m[4]}",
    ),
    (
        _MIDAS + rf"scratch\.output_conv\.([024])\.{_WB}",
        lambda m: f"relative_head.conv{int(m[1]) // 2 + 1}.{m[2]}",
    ),
    # ZoeDepth metric bins head
    (rf"conv2\.{_WB}", lambda m: f"metric_head.conv2.{m[1]}"),
    (
        rf"(seed_bin_regressor|seed_projector)\._net\.([02])\.{_WB}",
        lambda m: f"metric_head.{m[1]}.conv{int(m[2]) // 2 + 1}.{m[3]}",
    ),
    (
        rf"(projectors|attractors)\.(\d+)\._net\.([02])\.{_WB}",
        lambda m: f"metric_head.{m[1]}.{m[2]}.conv{int(m[3]) // 2 + 1}.{m[4]}",
    ),
    (
        rf"conditional_log_binomial\.mlp\.([02])\.{_WB}",
        lambda m: f"metric_head.conditional_log_binomial.mlp.{m[1]}.{m[2]}",
    ),
]

IGNORED: list[str] = [
    # buffers that transformers recomputes: relative position index, the zero k bias, binomial constants
    _BEIT + r"blocks\.\d+\.attn\.relative_position_index",
    _BEIT + r"blocks\.\d+\.attn\.k_bias",
    r"conditional_log_binomial\.log_binomial_transform\.(k_idx|K_minus_1)",
    # ImageNet classifier parts of timm's BEiT that MiDaS never runs (it reads features from hooked blocks)
    _BEIT + rf"(fc_norm|head|norm)\.{_WB}",
]

_COMPILED_RULES = [(re.compile(p), f) for p, f in RULES]
_COMPILED_IGNORED = [re.compile(p) for p in IGNORED]


def map_original_state_dict(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original ZoeDepth/MiDaS/timm names -> transformers ``ZoeDepthForDepthEstimation`` names.

    Raises ``ValueError`` listing keys that no rule (or several rules) matched, or targets produced twice; a
    ``module.`` prefix (DataParallel) is removed first.
    """
    if original and all(k.startswith("module.") for k in original):
        original = {k[len("module."):]: v for k, v in original.items()}
    mapped: dict[str, torch.Tensor] = {}
    unmatched: list[str] = []
    ambiguous: list[str] = []
    duplicates: list[str] = []

    def put(target: str, value: torch.Tensor) -> None:
        if target in mapped:
            duplicates.append(target)
        mapped[target] = value

    for key, value in original.items():
        hits = [(m, f) for rx, f in _COMPILED_RULES if (m := rx.fullmatch(key))]
        ignored = any(rx.fullmatch(key) for rx in _COMPILED_IGNORED)
        if len(hits) + ignored > 1:
            ambiguous.append(key)
            continue
        if ignored:
            continue
        if not hits:
            unmatched.append(key)
            continue
        match, target_of = hits[0]
        target = target_of(match)
        if target.endswith("{q,k,v}_proj"):
            for name, part in zip("qkv", _split_qkv(value), strict=True):
                put(target.replace("{q,k,v}_proj", f"{name}_proj") + ".weight", part)
        else:
            put(target, value)
    problems = []
    if unmatched:
        problems.append(f"unmapped original keys: {unmatched[:10]}{' ...' if len(unmatched) > 10 else ''}")
    if ambiguous:
        problems.append(f"keys matched by several rules: {ambiguous[:10]}")
    if duplicates:
        problems.append(f"targets produced twice: {duplicates[:10]}")
    if problems:
        raise ValueError("; ".join(problems))
    return mapped


def _split_qkv(qkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """timm's fused ``qkv.weight`` [3D, D] -> q, k, v weights [D, D] (stacked in that order)."""
    dim = qkv.shape[1]
    if qkv.shape[0] != 3 * dim:
        raise ValueError(f"qkv weight must be [3D, D], got {tuple(qkv.shape)}")
    return qkv[:dim].clone(), qkv[dim : 2 * dim].clone(), qkv[2 * dim :].clone()


def config_from_original(original: dict[str, torch.Tensor], **overrides: Any) -> Any:
    """A ``ZoeDepthConfig`` whose sizes are read from an original state dict's shapes (any BEiT size).

    What shapes cannot tell (bin centre type, depth range, attractor constants) are the published ZoeD_N /
    Invisible Stitch values: softplus bin centres, [1e-3, 10] m, alpha 1000, gamma 2, mean attractors.
    """
    from transformers import BeitConfig, ZoeDepthConfig

    sd = {k.removeprefix("module."): v for k, v in original.items()}
    pre = "core.core.pretrained.model."
    try:
        patch = sd[pre + "patch_embed.proj.weight"]  # [D, C, p, p]
        hidden, channels, patch_size = patch.shape[0], patch.shape[1], patch.shape[2]
        layers = 1 + max(int(k[len(pre) + 7 :].split(".")[0]) for k in sd if k.startswith(pre + "blocks."))
        table = sd[pre + "blocks.0.attn.relative_position_bias_table"]  # [(2w-1)^2 + 3, heads]
        heads = table.shape[1]
        window = (round((table.shape[0] - 3) ** 0.5) + 1) // 2
        intermediate = sd[pre + "blocks.0.mlp.fc1.weight"].shape[0]
        neck = [sd[f"core.core.pretrained.act_postprocess{i}.3.weight"].shape[0] for i in range(1, 5)]
        fusion = sd["core.core.scratch.layer1_rn.weight"].shape[0]
        relative_features = sd["core.core.scratch.output_conv.2.weight"].shape[0]
        n_bins = sd["seed_bin_regressor._net.2.weight"].shape[0]
        bin_embedding = sd["seed_projector._net.2.weight"].shape[0]
        bottleneck = sd["conv2.weight"].shape[0]
        n_attr = sorted({int(k.split(".")[1]) for k in sd if k.startswith("attractors.")})
        attractors = [sd[f"attractors.{i}._net.2.weight"].shape[0] for i in n_attr]
    except (KeyError, ValueError) as exc:
        raise ValueError(f"not an original ZoeDepth/Invisible Stitch state dict (missing {exc})") from exc
    step = layers // 4
    backbone = BeitConfig(
        image_size=window * patch_size, patch_size=patch_size, num_channels=channels, hidden_size=hidden,
        num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=intermediate,
        use_relative_position_bias=True, reshape_hidden_states=False, layer_scale_init_value=0.1,
        out_features=[f"stage{step * (i + 1)}" for i in range(4)],
    )
    params: dict[str, Any] = {
        "backbone_config": backbone, "neck_hidden_sizes": neck, "fusion_hidden_size": fusion,
        "bottleneck_features": bottleneck, "num_relative_features": relative_features,
        "bin_embedding_dim": bin_embedding, "num_attractors": attractors, "bin_centers_type": "softplus",
        "bin_configurations": [{"n_bins": n_bins, "min_depth": MIN_DEPTH, "max_depth": MAX_DEPTH}],
    }
    params.update(overrides)
    return ZoeDepthConfig(**params)


def load_original_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of an original ``.pt`` checkpoint (under ``"model"``), read without running pickled code."""
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelNotAvailableError(f"cannot read Invisible Stitch checkpoint {path}: {exc}") from exc
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ModelNotAvailableError(f"{path} holds no state dict (expected a dict with key 'model')")
    return state


def model_from_original(original: dict[str, torch.Tensor]) -> Any:
    """Build the transformers model for an original state dict and load the mapped weights strictly."""
    from transformers import ZoeDepthForDepthEstimation

    model = ZoeDepthForDepthEstimation(config_from_original(original))
    model.load_state_dict(map_original_state_dict(original), strict=True)
    return model.eval()


def convert_checkpoint(pt_path: str | Path, out_dir: str | Path) -> Path:
    """Original ``.pt`` -> ``config.json`` + ``model.safetensors`` (loads faster and without pickle)."""
    model = model_from_original(load_original_checkpoint(pt_path))
    out = Path(out_dir)
    model.save_pretrained(out)
    return out


def reference_padding(height: int, width: int, factor: float = 3.0) -> tuple[int, int]:
    """Border added on each side before inference, as the original: ``int(sqrt(side / 2) * 3)`` pixels."""
    return int(np.sqrt(height / 2) * factor), int(np.sqrt(width / 2) * factor)


class InvisibleStitchCompleter:
    """Completes depth from an image and sparse metric depth (metres); 0 known pixels = monocular prediction.

    Inference follows the published procedure: the 5-channel input is padded (RGB by reflection, depth and mask
    by zeros), resized as a whole to 384 x 512 (bilinear, corners aligned), predicted, and averaged with the
    prediction for the horizontally flipped input; the output is upsampled (bicubic) and the padding cropped.
    ``scaling`` rescales the scene into the network's [1e-3, 10] m training range (depth is divided by
    ``max_depth * scaling`` on input and the output multiplied by ``scaling``). Known pixels are returned
    unchanged when ``keep_known`` so that the stitched point cloud agrees exactly with what is already there.
    """

    name = "invisible-stitch"

    def __init__(self, model: Any, *, device: torch.device, dtype: torch.dtype, low_vram: bool = False,
                 scaling: float = 1.0, keep_known: bool = True, input_size: tuple[int, int] = INPUT_SIZE,
                 pad_input: bool = True, flip_average: bool = True) -> None:
        if scaling <= 0:
            raise InputError(f"scaling must be positive, got {scaling!r}")
        self.model = model
        self.device, self.dtype, self.low_vram = device, dtype, low_vram
        self.scaling, self.keep_known, self.input_size = scaling, keep_known, tuple(input_size)
        self.pad_input, self.flip_average = pad_input, flip_average
        self.max_depth = float(model.config.bin_configurations[0]["max_depth"])
        self._lock = threading.Lock()

    def raw_input(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> torch.Tensor:
        """[1, 5, H, W] at the image's size: RGB in [0, 1], depth / (max_depth x scaling), mask (depth > 0)."""
        known = known_mask & (depth > 0)
        rgb = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
        sparse = torch.from_numpy(np.where(known, depth, 0).astype(np.float32))[None, None]
        mask = torch.from_numpy(known)[None, None].float()
        return torch.cat([rgb, sparse / (self.max_depth * self.scaling), mask], dim=1)

    def network_input(self, x: torch.Tensor) -> torch.Tensor:
        """Raw [1, 5, h, w] -> the network's [1, 5, 384, 512]: all channels resized, then RGB to [-1, 1]."""
        import torch.nn.functional as F

        x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=True)
        return torch.cat([(x[:, :3] - 0.5) / 0.5, x[:, 3:]], dim=1)

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        import torch.nn.functional as F

        if not self.pad_input:
            return x, 0, 0
        ph, pw = reference_padding(x.shape[2], x.shape[3])
        ph, pw = min(ph, x.shape[2] - 1), min(pw, x.shape[3] - 1)  # reflection needs pad < size
        rgb = F.pad(x[:, :3], [pw, pw, ph, ph], mode="reflect")
        rest = F.pad(x[:, 3:], [pw, pw, ph, ph], mode="constant", value=0.0)
        return torch.cat([rgb, rest], dim=1), ph, pw

    def _predict(self, model: Any, x: torch.Tensor) -> torch.Tensor:
        """Metric depth [B, 1, h, w] for a raw input [B, 5, h, w] (padding, resizing and cropping included)."""
        import torch.nn.functional as F

        padded, ph, pw = self._pad(x)
        net_in = self.network_input(padded).to(self.device, self.dtype)
        out = model(pixel_values=net_in).predicted_depth.float()[:, None]
        out = F.interpolate(out, size=padded.shape[-2:], mode="bicubic", align_corners=False)
        return out[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]

    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        from core.vram import on_device

        # 1. Check inputs
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
        h, w = image.shape[:2]
        if depth.shape != (h, w) or known_mask.shape != (h, w):
            raise InputError(f"depth {depth.shape} and mask {known_mask.shape} must match the image {(h, w)}")
        known_mask = known_mask.astype(bool)
        x = self.raw_input(image, depth, known_mask)
        # 2. Predict (and average with the mirrored prediction)
        with self._lock, torch.inference_mode(), on_device(self.model, self.device, self.low_vram) as model:
            if self.flip_average:  # the photo and its mirror image as one batch of 2: one pass over the weights
                both = self._predict(model, torch.cat([x, torch.flip(x, dims=[3])]))
                pred = 0.5 * (both[:1] + torch.flip(both[1:], dims=[3]))
            else:
                pred = self._predict(model, x)
        out = (pred[0, 0] * self.scaling).cpu().numpy()
        out = np.clip(out, MIN_DEPTH * self.scaling, None).astype(np.float32)  # bicubic can overshoot
        # 3. Keep the known depth exactly
        if self.keep_known:
            keep = known_mask & (depth > 0)
            out[keep] = depth[keep]
        return out


def build(
    arg: str | None,
    *,
    device: str = "cpu",
    dtype: str | None = None,
    cache_dir: str | None = None,
    allow_download: bool | None = None,
    low_vram: bool = False,
    scaling: float = 1.0,
    keep_known: bool = True,
    input_size: tuple[int, int] = INPUT_SIZE,
    pad_input: bool = True,
    flip_average: bool = True,
    **_: Any,
) -> InvisibleStitchCompleter:
    """Registry factory: ``arg`` = original ``.pt``, converted dir, or ``None`` for the registry checkpoint."""
    from core import models
    from core.vram import resolve_device, resolve_dtype

    where = models.resolve("invisible-stitch", arg, cache_dir=cache_dir, allow_download=allow_download)
    from transformers import ZoeDepthForDepthEstimation  # heavy: only once the weights are known to exist
    if where.path.is_dir():
        model = ZoeDepthForDepthEstimation.from_pretrained(where.path).eval()
    else:
        model = model_from_original(load_original_checkpoint(where.path))
    if model.config.backbone_config.num_channels != 5:
        raise InputError(f"{where.path} is not an Invisible Stitch model (expects 5 input channels)")
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype or (where.entry.dtype if where.entry else None), dev)
    model.to(dtype=torch_dtype)
    model.to("cpu" if low_vram and dev.type == "cuda" else dev)
    log.info("loaded Invisible Stitch from %s (%s) on %s", where.path, torch_dtype, dev)
    return InvisibleStitchCompleter(model, device=dev, dtype=torch_dtype, low_vram=low_vram, scaling=scaling,
                                    keep_known=keep_known, input_size=tuple(input_size), pad_input=pad_input,
                                    flip_average=flip_average)
