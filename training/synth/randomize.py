"""Domain randomisation: make procedural scenes look more like photographs, behind explicit switches.

Why: a network trained on the engine's procedural textures and one kind of lighting learns cues that real photos
do not have (perfectly periodic patterns, clean colours, no sensor). Two families of changes, each off by
default so that the engine's default output (and every cached frame, validation scene and benchmark pair
rendered with it) stays as it was:

* **scene look** (:class:`SceneRandomization`, applied at render time; part of the frame cache's key):
  ``photo_textures`` replaces that fraction of a scene's materials by crops of real photographs -- every image
  bundled in ``examples/`` and scikit-image's sample photos, except the Middlebury motorcycle pair, which is the
  benchmark's test scene; ``lighting`` draws the light's colour, ambient and strength from wider ranges (warm
  and cold light, dim and harsh). Geometry is untouched: the same seed gives the same depth either way;
* **camera** (:func:`camera_effects`, applied per training sample): exposure and gamma, white balance, sensor
  noise, defocus blur and JPEG artefacts.

Both draw from their own random streams, so switching one on never changes what the other produces.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from training.synth.layouts import Layout
from training.synth.textures import TEX_SIZE, Material

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina", "immunohistochemistry",
                  "camera", "coins", "moon", "page", "text", "clock")
"""scikit-image's bundled photographs (no download needed). Never ``stereo_motorcycle``: the Middlebury
motorcycle is the benchmark's real test scene, and no pixel of it may reach training."""


@dataclass(frozen=True)
class SceneRandomization:
    """Render-time switches; the default (all off) renders exactly the engine's default scenes."""

    photo_textures: float = 0.0
    """Fraction of a scene's materials replaced by crops of photographs (0 = none, 1 = all)."""
    lighting: bool = False
    """Wider light colour / ambient / strength ranges."""

    @property
    def active(self) -> bool:
        return self.photo_textures > 0 or self.lighting


@lru_cache(maxsize=1)
def bundled_photos() -> tuple[np.ndarray, ...]:
    """Every bundled photograph as float32 RGB [H, W, 3] in [0, 1] (grey ones replicated), read once."""
    import skimage.data
    from PIL import Image

    photos = []
    for name in SKIMAGE_PHOTOS:
        fetch = getattr(skimage.data, name, None)
        if fetch is None:
            continue
        try:
            img = np.asarray(fetch())
        except Exception:  # a sample that would need a download is simply not bundled here
            continue
        photos.append(img)
    for path in sorted(EXAMPLES_DIR.glob("*")):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png") and "motorcycle" not in path.name:
            photos.append(np.asarray(Image.open(path).convert("RGB")))
    out = []
    for img in photos:
        img = img.astype(np.float32) / (255.0 if img.dtype == np.uint8 else max(1.0, float(img.max())))
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        out.append(np.ascontiguousarray(img[..., :3]))
    return tuple(out)


def photo_material(rng: np.random.Generator) -> Material:
    """A tileable texture cut from a random bundled photograph, spanning 0.5-3 m on the surface."""
    from skimage.transform import resize

    photos = bundled_photos()
    img = photos[int(rng.integers(len(photos)))]
    H, W = img.shape[:2]
    side = int(min(H, W) * rng.uniform(0.2, 0.8))
    top, left = int(rng.integers(H - side + 1)), int(rng.integers(W - side + 1))
    crop = resize(img[top : top + side, left : left + side], (TEX_SIZE, TEX_SIZE), anti_aliasing=True)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    # Cross-fade with the half-shifted copy near the borders so the tile repeats without a visible seam.
    w = np.abs(np.linspace(-1, 1, TEX_SIZE))
    mask = np.maximum(w[:, None], w[None, :])[..., None] ** 4
    shifted = np.roll(crop, (TEX_SIZE // 2, TEX_SIZE // 2), axis=(0, 1))
    tex = crop * (1 - mask) + shifted * mask
    return Material(np.clip(tex, 0, 1).astype(np.float32), float(rng.uniform(0.5, 3.0)), "photograph")


def randomize_layout(layout: Layout, seed: int, options: SceneRandomization) -> Layout:
    """``layout`` with its look randomised per ``options`` (in place, and returned); geometry is not touched."""
    if not options.active:
        return layout
    rng = np.random.default_rng([int(seed), 4242])
    if options.photo_textures > 0:
        for i in range(len(layout.materials)):
            if rng.random() < options.photo_textures:
                layout.materials[i] = photo_material(rng)
    if options.lighting:
        light = layout.light
        temperature = rng.uniform(-1, 1)  # warm (+) to cold (-) light
        light.color = np.clip(np.array([1.0, 0.93, 0.85]) + temperature * np.array([0.12, 0.0, -0.2]), 0.5, 1.2)
        light.ambient = float(rng.uniform(0.1, 0.6))
        light.strength = float(rng.uniform(0.5, 1.5))
    return layout


# --------------------------------------------------------------------------------------------------- camera
def camera_effects(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A photo-like version of a rendered uint8 image [H, W, 3]: each effect applied with its own probability.

    Exposure (gain 0.6-1.6) and gamma (0.8-1.25) always; white balance (+-10% per channel, p 0.5); Gaussian
    blur (sigma 0.3-1.2 px, p 0.3); sensor noise (sigma 1-8 grey levels, p 0.5); JPEG (quality 30-90, p 0.5).
    """
    from PIL import Image, ImageFilter

    x = image.astype(np.float32) / 255.0
    x = np.clip(x * float(np.exp(rng.uniform(np.log(0.6), np.log(1.6)))), 0, 1) ** float(rng.uniform(0.8, 1.25))
    if rng.random() < 0.5:
        x = x * rng.uniform(0.9, 1.1, 3)[None, None]
    out = (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    if rng.random() < 0.3:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2)))))
    if rng.random() < 0.5:
        noise = rng.normal(0, rng.uniform(1, 8), out.shape)
        out = np.clip(out + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=int(rng.integers(30, 91)))
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return np.ascontiguousarray(out)
