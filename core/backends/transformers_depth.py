"""DepthEstimator ``transformers[:ID_OR_DIR]``: any ``AutoModelForDepthEstimation`` checkpoint.

Default: Depth Anything V2 Small (``depth-anything/Depth-Anything-V2-Small-hf``, Apache-2.0). ZoeDepth, DPT,
GLPN and Depth Anything metric checkpoints work too. What the network outputs differs per family, so the
conversion to metres is chosen from the config (documented in docs/MODELS.md):

* metric families (``zoedepth``, ``glpn``, Depth Anything with ``depth_estimation_type="metric"``): the output
  already is z-depth in metres and is only resized.
* relative families (``dpt``/MiDaS, Depth Anything relative): the output is affine-invariant inverse depth
  (disparity up to scale and shift). Its 2nd..98th percentiles are mapped linearly onto ``[1/far, 1/near]`` and
  inverted, giving a pseudo-metric depth in ``[near, far]`` metres. The pipeline aligns it to known depth
  afterwards (``aligned-mono``), so only the shape matters, and the shape is right only in inverse space.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Literal

import numpy as np

from core.errors import InputError

log = logging.getLogger(__name__)

OutputKind = Literal["metric", "inverse_relative"]

_METRIC_FAMILIES = {"zoedepth", "glpn"}
_RELATIVE_FAMILIES = {"dpt", "depth_anything", "depth_pro_relative"}


def output_kind(config: Any) -> OutputKind:
    """What the model's ``predicted_depth`` means, from its config (see the module docstring)."""
    model_type = getattr(config, "model_type", "")
    if model_type in _METRIC_FAMILIES:
        return "metric"
    if model_type == "depth_anything":
        return "metric" if getattr(config, "depth_estimation_type", "relative") == "metric" else "inverse_relative"
    if model_type in _RELATIVE_FAMILIES:
        return "inverse_relative"
    raise InputError(
        f"depth model family {model_type!r} is not supported (known: depth_anything, dpt, zoedepth, glpn); "
        "its output convention (metric or inverse relative) is unknown"
    )


def inverse_relative_to_depth(
    disparity: np.ndarray, near: float = 1.0, far: float = 10.0, percentiles: tuple[float, float] = (2.0, 98.0)
) -> np.ndarray:
    """Affine-invariant inverse depth ``[H, W]`` -> depth in ``[near, far]`` metres (float32, all positive).

    Percentiles rather than min/max so that a few sky or specular pixels do not squash the whole range.
    """
    if not 0 < near < far:
        raise ValueError(f"need 0 < near < far, got near={near!r}, far={far!r}")
    d = disparity.astype(np.float64)
    lo, hi = np.percentile(d, percentiles)
    t = np.clip((d - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.full_like(d, 0.5)
    inv = (1.0 / far) + t * (1.0 / near - 1.0 / far)
    return (1.0 / inv).astype(np.float32)


class TransformersDepth:
    """``AutoModelForDepthEstimation`` + its image processor; returns z-depth in metres at the input size.

    Safe to call repeatedly (the worker keeps it resident); calls are serialised by a lock because the model is
    shared by threads of the embedded service.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        name: str,
        device: Any,
        dtype: Any,
        low_vram: bool = False,
        near: float = 1.0,
        far: float = 10.0,
    ) -> None:
        self.model = model
        self.processor = processor
        self.name = name
        self.device = device
        self.dtype = dtype
        self.low_vram = low_vram
        self.near, self.far = near, far
        self.kind: OutputKind = output_kind(model.config)
        self._lock = threading.Lock()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        from core.vram import on_device

        # 1. Check inputs
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
        h, w = image.shape[:2]
        # 2. Preprocess with the checkpoint's own processor (resize rule and normalisation differ per family)
        pixel_values = self.processor(images=image, return_tensors="pt")["pixel_values"]
        # 3. Predict
        with self._lock, torch.inference_mode(), on_device(self.model, self.device, self.low_vram) as model:
            out = model(pixel_values=pixel_values.to(self.device, self.dtype)).predicted_depth
            pred = F.interpolate(out.float()[:, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
            pred = pred.cpu().numpy()
        # 4. Convert to metres
        if self.kind == "metric":
            return np.clip(pred, 1e-3, None).astype(np.float32)
        return inverse_relative_to_depth(pred, self.near, self.far)


def build(
    arg: str | None,
    *,
    device: str = "cpu",
    dtype: str | None = None,
    revision: str | None = None,
    cache_dir: str | None = None,
    allow_download: bool | None = None,
    low_vram: bool = False,
    near: float = 1.0,
    far: float = 10.0,
    **_: Any,
) -> TransformersDepth:
    """Registry factory: ``arg`` is a registry name, a local dir or a hub id (``None`` = Depth Anything V2 S)."""
    from core import models
    from core.vram import resolve_device, resolve_dtype

    where = models.resolve("transformers", arg, revision=revision, cache_dir=cache_dir, allow_download=allow_download)
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation  # heavy: after the weights are found
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype or (where.entry.dtype if where.entry else None), dev)
    model = AutoModelForDepthEstimation.from_pretrained(where.path, dtype=torch_dtype)
    model.eval()
    processor = AutoImageProcessor.from_pretrained(where.path)
    model.to("cpu" if low_vram and dev.type == "cuda" else dev)
    label = where.entry.name if where.entry else (arg or "")
    log.info("loaded depth model %s (%s, %s) on %s", label, model.config.model_type, torch_dtype, dev)
    return TransformersDepth(model, processor, name=f"transformers:{label}", device=dev, dtype=torch_dtype,
                             low_vram=low_vram, near=near, far=far)


def build_completer(arg: str | None, *, device: str = "cpu", blend_px: float | None = None, **options: Any) -> Any:
    """``transformers[:ID_OR_DIR]`` as a depth completer (``--depth-model``): the estimator aligned to the known
    depth by a least-squares scale and shift (``aligned-mono``), so relative models slot into the pipeline.
    """
    from core.backends.aligned_mono import DEFAULT_BLEND_PX, AlignedMono

    estimator = build(arg, device=device, **options)
    return AlignedMono(estimator, blend_px=DEFAULT_BLEND_PX if blend_px is None else blend_px)
