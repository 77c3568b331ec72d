"""Inpainter ``diffusers[:ID_OR_DIR]``: any diffusers inpainting pipeline (``AutoPipelineForInpainting``).

Default model: ``sd2-inpainting`` = ``sd2-community/stable-diffusion-2-inpainting``, the community mirror of the
Stable Diffusion 2 inpainting weights (the stabilityai repo was taken down in Nov 2025).

What this adds around the pipeline, and why:

* resolution: the image is resized so that its long side is the model's native resolution (512 for SD-2) and
  reflect-padded up to a multiple of the UNet's downsampling factor; the pipeline never sees an odd size and the
  padding (not black borders) keeps the content statistics natural. The result is cropped and resized back.
* pre-fill: diffusion models inpaint black holes poorly (they keep them dark), so the hole is first filled by a
  cheap classical inpainter (PatchMatch by default; any inpainter spec, or ``None``).
* exactness: only masked pixels are replaced; known pixels come back bit-identical. Inside the hole the
  generated pixels are feathered into the pre-fill over ``mask_blur`` pixels so there is no hard seam.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from core.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_NEGATIVE_PROMPT = "blurry, lowres, text, watermark, frame, border, distorted"


def feather_weights(mask: np.ndarray, radius: float) -> np.ndarray:
    """Blend weight ``[H, W]`` in [0, 1] for generated pixels: 0 outside ``mask``, rising to 1 at ``radius`` px
    inside it. Zero outside the mask is what keeps known pixels exact.
    """
    from scipy.ndimage import distance_transform_edt

    if radius <= 0:
        return mask.astype(np.float32)
    inside = distance_transform_edt(mask)  # distance to the nearest known pixel
    return np.clip(inside / radius, 0.0, 1.0).astype(np.float32) * mask


def pad_to_multiple(image: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad ``[H, W, C]`` at the bottom/right to multiples of ``multiple``; returns the original (H, W)."""
    h, w = image.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    mode = "reflect" if ph < h and pw < w else "edge"
    pad = ((0, ph), (0, pw)) + ((0, 0),) * (image.ndim - 2)
    return np.pad(image, pad, mode=mode), (h, w)


class DiffusersInpainter:
    """An inpainting pipeline plus resizing, pre-fill and exact compositing (see module docstring).

    Options are fixed at build time (steps, guidance, ...) so that repeated calls in the worker are identical
    for identical inputs and seeds. A lock serialises calls: a diffusers pipeline holds scheduler state.
    """

    def __init__(
        self,
        pipe: Any,
        *,
        name: str,
        device: Any,
        steps: int = 30,
        guidance: float = 7.5,
        strength: float = 1.0,
        negative_prompt: str = DEFAULT_NEGATIVE_PROMPT,
        mask_blur: float = 4.0,
        mask_dilate: int = 2,
        prefill: Any = None,
        resolution: int | None = None,
        default_seed: int = 0,
    ) -> None:
        if steps < 1:
            raise InputError(f"steps must be >= 1, got {steps!r}")
        if not 0.0 < strength <= 1.0:
            raise InputError(f"strength must lie in (0, 1], got {strength!r}")
        if guidance < 0:
            raise InputError(f"guidance must be >= 0, got {guidance!r}")
        self.pipe = pipe
        self.name = name
        self.device = device
        self.steps, self.guidance, self.strength = steps, guidance, strength
        self.negative_prompt = negative_prompt
        self.mask_blur, self.mask_dilate = mask_blur, mask_dilate
        self.prefill = prefill
        vae_factor = getattr(pipe, "vae_scale_factor", 8)
        unet_factor = 2 ** (len(pipe.unet.config.block_out_channels) - 1)
        self.multiple = vae_factor * unet_factor
        self.resolution = resolution or int(pipe.unet.config.sample_size) * vae_factor
        self.default_seed = default_seed
        self._lock = threading.Lock()

    def __call__(self, image: np.ndarray, mask: np.ndarray, prompt: str = "", *, seed: int | None = None) -> np.ndarray:
        # 1. Check inputs
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
        if mask.shape != image.shape[:2]:
            raise InputError(f"mask shape {mask.shape} does not match image {image.shape[:2]}")
        mask = mask.astype(bool)
        if not mask.any():
            return image.copy()
        # 2. Pre-fill the hole so the model sees plausible colours instead of black
        filled = self._prefill(image, mask, prompt)
        # 3. Run the pipeline at its native resolution
        generated = self._generate(filled, mask, prompt, self.default_seed if seed is None else seed)
        # 4. Composite: generated pixels only inside the mask, feathered into the pre-fill
        weight = feather_weights(mask, self.mask_blur)[..., None]
        blended = weight * generated.astype(np.float32) + (1.0 - weight) * filled.astype(np.float32)
        out = image.copy()
        out[mask] = np.clip(np.rint(blended[mask]), 0, 255).astype(np.uint8)
        return out

    def _prefill(self, image: np.ndarray, mask: np.ndarray, prompt: str) -> np.ndarray:
        if self.prefill is None:
            return image
        return self.prefill(image, mask, prompt)

    def _generate(self, image: np.ndarray, mask: np.ndarray, prompt: str, seed: int) -> np.ndarray:
        import torch
        from PIL import Image, ImageFilter
        from scipy.ndimage import binary_dilation

        h, w = image.shape[:2]
        scale = self.resolution / max(h, w)
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        small = np.asarray(Image.fromarray(image).resize((sw, sh), Image.Resampling.LANCZOS))
        model_mask = binary_dilation(mask, iterations=self.mask_dilate) if self.mask_dilate > 0 else mask
        small_mask = np.asarray(Image.fromarray(model_mask.astype(np.uint8) * 255).resize((sw, sh),
                                                                                          Image.Resampling.BILINEAR))
        padded, _ = pad_to_multiple(small, self.multiple)
        padded_mask, _ = pad_to_multiple(small_mask, self.multiple)
        mask_image = Image.fromarray(padded_mask)
        if self.mask_blur > 0:
            mask_image = mask_image.filter(ImageFilter.GaussianBlur(self.mask_blur * scale / 2))
        # a CPU generator gives the same noise whatever the device, so seeds are portable between machines
        generator = torch.Generator("cpu").manual_seed(int(seed))
        with self._lock, torch.inference_mode():
            result = self.pipe(
                prompt=prompt,
                negative_prompt=self.negative_prompt if self.guidance > 1.0 else None,
                image=Image.fromarray(padded),
                mask_image=mask_image,
                height=padded.shape[0],
                width=padded.shape[1],
                num_inference_steps=self.steps,
                guidance_scale=self.guidance,
                strength=self.strength,
                generator=generator,
                output_type="np",
            ).images[0]
        result = np.clip(np.rint(result * 255.0), 0, 255).astype(np.uint8)[:sh, :sw]
        return np.asarray(Image.fromarray(result).resize((w, h), Image.Resampling.LANCZOS))


def build(
    arg: str | None,
    *,
    device: str = "cpu",
    dtype: str | None = None,
    revision: str | None = None,
    cache_dir: str | None = None,
    allow_download: bool | None = None,
    low_vram: bool = False,
    prefill: str | None = "patchmatch",
    steps: int = 30,
    guidance: float = 7.5,
    strength: float = 1.0,
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT,
    mask_blur: float = 4.0,
    resolution: int | None = None,
    seed: int = 0,
    **_: Any,
) -> DiffusersInpainter:
    """Registry factory: ``arg`` is a registry name, a local pipeline dir or a hub id (``None`` = SD-2 mirror).

    ``prefill`` is an inpainter spec (``"patchmatch"``) or ``None``; fp16 is used on CUDA unless ``dtype`` says
    otherwise; ``low_vram`` enables model CPU offload and attention slicing.
    """
    from core import models
    from core.backends import registry
    from core.vram import apply_low_vram_to_pipeline, resolve_device, resolve_dtype

    where = models.resolve("diffusers", arg, revision=revision, cache_dir=cache_dir, allow_download=allow_download)
    from diffusers import AutoPipelineForInpainting  # heavy: only once the weights are known to exist
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype or (where.entry.dtype if where.entry else None), dev)
    pipe = AutoPipelineForInpainting.from_pretrained(where.path, dtype=torch_dtype)
    if getattr(pipe.unet.config, "in_channels", 9) not in (4, 9):
        raise InputError(f"{where.path} is not an inpainting pipeline (UNet has {pipe.unet.config.in_channels} inputs)")
    pipe.set_progress_bar_config(disable=True)
    if low_vram:
        apply_low_vram_to_pipeline(pipe, dev)
    else:
        pipe.to(dev)
    prefiller = registry.build("inpainter", prefill, device="cpu") if prefill else None
    label = where.entry.name if where.entry else (arg or "")
    log.info("loaded inpainting pipeline %s (%s, %s) on %s", label, type(pipe).__name__, torch_dtype, dev)
    return DiffusersInpainter(
        pipe, name=f"diffusers:{label}", device=dev, steps=steps, guidance=guidance, strength=strength,
        negative_prompt=negative_prompt, mask_blur=mask_blur, prefill=prefiller, resolution=resolution,
        default_seed=seed,
    )
