"""Procedural textures for synthetic scenes: a small atlas of tileable RGB images, each with a physical tile size.

Why: texture gives the depth network the cues real photos have (texture gradients, repeated structure shrinking
with distance), so every pattern is anchored to metres on the surface, not to pixels. Patterns are value noise,
stripes, checkers, bricks, planks, tiles, facades with windows, and scikit-image's bundled texture photos
(brick, grass, gravel; shipped with the package, no download). Everything is drawn from a numpy ``Generator`` so a
scene's look is a pure function of its seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

TEX_SIZE = 128
"""Texels per side of every atlas texture; patterns are drawn so that they tile seamlessly at this size."""

PATTERNS = ("plain", "noise", "stripes", "checker", "bricks", "planks", "tiles", "windows", "photo")


@dataclass
class Material:
    """One texture: RGB ``[T, T, 3]`` float32 in [0, 1] and the metres one tile spans on the surface."""

    texture: np.ndarray
    tile_m: float
    name: str


def _periodic_upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of a periodic grid [g, g] to [size, size] with smoothstep weights (tileable)."""
    g = grid.shape[0]
    x = np.arange(size) * g / size
    i0 = np.floor(x).astype(int)
    f = x - i0
    f = f * f * (3 - 2 * f)
    i1 = (i0 + 1) % g
    rows = grid[i0] * (1 - f)[:, None] + grid[i1] * f[:, None]
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i1] * f[None, :]


def value_noise(rng: np.random.Generator, size: int = TEX_SIZE, base: int = 4, octaves: int = 4) -> np.ndarray:
    """Tileable fractal value noise [size, size] in [0, 1]."""
    out = np.zeros((size, size))
    amp, total = 1.0, 0.0
    g = base
    for _ in range(octaves):
        if g > size:
            break
        out += amp * _periodic_upsample(rng.random((g, g)), size)
        total += amp
        amp *= 0.5
        g *= 2
    return out / total


def random_color(rng: np.random.Generator, lo: float = 0.15, hi: float = 0.95) -> np.ndarray:
    """A colour with moderate saturation: a random grey level pushed towards a random hue."""
    grey = rng.uniform(lo, hi)
    hue = rng.random(3)
    sat = rng.uniform(0.0, 0.6)
    c = grey * (1 - sat) + sat * hue * grey * 1.6
    return np.clip(c, 0.02, 1.0)


@lru_cache(maxsize=1)
def _skimage_photos() -> tuple[np.ndarray, ...]:
    """scikit-image's bundled texture photos, grey [TEX_SIZE, TEX_SIZE] float in [0, 1] (read once)."""
    import skimage.data
    from skimage.transform import resize

    photos = []
    for name in ("brick", "grass", "gravel"):
        img = getattr(skimage.data, name)().astype(np.float32) / 255.0
        img = resize(img, (TEX_SIZE, TEX_SIZE), anti_aliasing=True)
        # Edge-blend into a tile: mix with the half-shifted copy under a cross-fade so seams do not show as lines.
        w = np.abs(np.linspace(-1, 1, TEX_SIZE))
        mask = np.maximum(w[:, None], w[None, :])
        shifted = np.roll(img, (TEX_SIZE // 2, TEX_SIZE // 2), axis=(0, 1))
        photos.append((img * (1 - mask) + shifted * mask).astype(np.float32))
    return tuple(photos)


def _two_tone(rng: np.random.Generator, pattern: np.ndarray) -> np.ndarray:
    """Map a [T, T] pattern in [0, 1] to two random colours, with a little noise for grain."""
    c0, c1 = random_color(rng), random_color(rng)
    grain = 0.85 + 0.3 * value_noise(rng, base=8, octaves=3)
    rgb = c0[None, None] * (1 - pattern[..., None]) + c1[None, None] * pattern[..., None]
    return rgb * grain[..., None]


def _grid(size: int = TEX_SIZE) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:size, 0:size]
    return x / size, y / size


def _plain(rng):
    c = random_color(rng)
    return c[None, None] * (0.9 + 0.2 * value_noise(rng, base=4, octaves=4))[..., None], rng.uniform(1.0, 3.0)


def _noise(rng):
    return _two_tone(rng, value_noise(rng, base=int(rng.choice([2, 4, 8])), octaves=5)), rng.uniform(0.5, 3.0)


def _stripes(rng):
    x, _ = _grid()
    n = int(rng.integers(2, 9))
    duty = rng.uniform(0.2, 0.8)
    return _two_tone(rng, ((x * n) % 1.0 < duty).astype(float)), rng.uniform(0.4, 2.0)


def _checker(rng):
    x, y = _grid()
    n = int(rng.choice([2, 4, 8]))
    return _two_tone(rng, ((np.floor(x * n) + np.floor(y * n)) % 2).astype(float)), rng.uniform(0.4, 2.0)


def _bricks(rng):
    x, y = _grid()
    rows, cols = int(rng.choice([4, 8])), int(rng.choice([2, 4]))
    row = np.floor(y * rows)
    xs = x * cols + 0.5 * (row % 2)
    mortar = rng.uniform(0.04, 0.1)
    pat = ((y * rows) % 1.0 < mortar) | (xs % 1.0 < mortar * rows / cols)
    brick_id = (row * 131 + np.floor(xs) % cols * 17).astype(int)
    jitter = rng.uniform(0.75, 1.15, size=int(brick_id.max()) + 1)[brick_id]
    c_brick, c_mortar = random_color(rng, 0.2, 0.7), random_color(rng, 0.5, 0.95)
    rgb = np.where(pat[..., None], c_mortar, c_brick * jitter[..., None])
    return rgb * (0.85 + 0.3 * value_noise(rng, base=16, octaves=2))[..., None], rng.uniform(0.8, 2.0)


def _planks(rng):
    x, y = _grid()
    n = int(rng.choice([4, 8]))
    plank = np.floor(y * n).astype(int)
    jitter = rng.uniform(0.7, 1.2, size=n)[plank]
    grain = value_noise(rng, base=16, octaves=3)
    seam = ((y * n) % 1.0 < 0.05).astype(float)
    c = random_color(rng, 0.25, 0.8)
    rgb = c[None, None] * (jitter * (0.8 + 0.4 * grain) * (1 - 0.5 * seam))[..., None]
    return rgb, rng.uniform(1.0, 2.5)


def _tiles(rng):
    x, y = _grid()
    n = int(rng.choice([2, 4]))
    grout = rng.uniform(0.03, 0.08)
    line = ((x * n) % 1.0 < grout) | ((y * n) % 1.0 < grout)
    tile_id = (np.floor(x * n) * 7 + np.floor(y * n) * 13).astype(int)
    jitter = rng.uniform(0.85, 1.1, size=int(tile_id.max()) + 1)[tile_id]
    c, g = random_color(rng, 0.4, 0.95), random_color(rng, 0.2, 0.6)
    return np.where(line[..., None], g, c * jitter[..., None]), rng.uniform(0.6, 1.6)


def _windows(rng):
    """A facade tile: one window per tile, dark glass with a frame, on a wall colour (tile = one storey)."""
    x, y = _grid()
    wx, wy = rng.uniform(0.3, 0.7), rng.uniform(0.35, 0.65)
    win = (np.abs(x - 0.5) < wx / 2) & (np.abs(y - 0.5) < wy / 2)
    frame = (np.abs(x - 0.5) < wx / 2 + 0.03) & (np.abs(y - 0.5) < wy / 2 + 0.03) & ~win
    wall = random_color(rng, 0.3, 0.9) * (0.85 + 0.3 * value_noise(rng, base=8, octaves=3))[..., None]
    glass = random_color(rng, 0.05, 0.35) * (0.7 + 0.6 * y)[..., None]
    rgb = np.where(win[..., None], glass, wall)
    rgb = np.where(frame[..., None], random_color(rng, 0.5, 1.0), rgb)
    return rgb, rng.uniform(2.8, 4.0)


def _photo(rng):
    photos = _skimage_photos()
    grey = photos[int(rng.integers(len(photos)))]
    tint = random_color(rng, 0.5, 1.0)
    return grey[..., None] * tint[None, None] * rng.uniform(1.0, 1.6), rng.uniform(0.8, 3.0)


_MAKERS: dict[str, Callable[[np.random.Generator], tuple[np.ndarray, float]]] = {
    "plain": _plain,
    "noise": _noise,
    "stripes": _stripes,
    "checker": _checker,
    "bricks": _bricks,
    "planks": _planks,
    "tiles": _tiles,
    "windows": _windows,
    "photo": _photo,
}


def make_material(rng: np.random.Generator, pattern: str | None = None) -> Material:
    """A random material of ``pattern`` (or a random pattern)."""
    name = pattern if pattern is not None else str(rng.choice(PATTERNS))
    if name not in _MAKERS:
        raise ValueError(f"unknown texture pattern {name!r}; choose from {', '.join(PATTERNS)}")
    rgb, tile = _MAKERS[name](rng)
    return Material(np.clip(rgb, 0.0, 1.0).astype(np.float32), float(tile), name)


class TextureAtlas:
    """All materials of a scene stacked for batched bilinear lookup with wrap-around, with a mip pyramid.

    Why mips: a brick wall 30 m away packs many texels into one pixel; sampling the full-resolution texture there
    gives moire and salt-and-pepper noise that no camera produces. Each pixel reads the level whose texel size
    matches its footprint on the surface (box-filtered 2x2 levels down to one texel, the material's mean).
    """

    def __init__(self, materials: list[Material]) -> None:
        assert materials, "a scene needs at least one material"
        self.materials = materials
        level = torch.from_numpy(np.stack([m.texture for m in materials]))  # [M, T, T, 3]
        self.levels = [level.reshape(-1, 3)]
        while level.shape[1] > 1:
            M, T = level.shape[0], level.shape[1]
            level = level.reshape(M, T // 2, 2, T // 2, 2, 3).mean(dim=(2, 4))
            self.levels.append(level.reshape(-1, 3))
        self.tile_m = torch.tensor([m.tile_m for m in materials], dtype=torch.float32)

    def _bilinear(self, k: int, material: torch.Tensor, uv_m: torch.Tensor) -> torch.Tensor:
        T = TEX_SIZE >> k
        texels = self.levels[k]
        st = uv_m / self.tile_m[material, None] * T - 0.5
        i0 = torch.floor(st)
        f = st - i0
        i0 = i0.long() % T
        i1 = (i0 + 1) % T
        base = material * (T * T)
        x0, y0, x1, y1 = i0[:, 0], i0[:, 1], i1[:, 0], i1[:, 1]
        fx, fy = f[:, 0:1], f[:, 1:2]
        top = texels[base + y0 * T + x0] * (1 - fx) + texels[base + y0 * T + x1] * fx
        bot = texels[base + y1 * T + x0] * (1 - fx) + texels[base + y1 * T + x1] * fx
        return top * (1 - fy) + bot * fy

    def sample(
        self, material: torch.Tensor, uv_m: torch.Tensor, footprint_m: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Albedo [N, 3] for material ids [N] at surface coordinates [N, 2] (metres); ``footprint_m`` [N] is the
        size of the pixel on the surface (metres) and picks the mip level (None: full resolution)."""
        if footprint_m is None:
            return self._bilinear(0, material, uv_m)
        texels_per_pixel = footprint_m / self.tile_m[material] * TEX_SIZE
        level = torch.log2(texels_per_pixel.clamp_min(1.0)).round().long().clamp(0, len(self.levels) - 1)
        out = torch.empty(material.shape[0], 3)
        for k in torch.unique(level).tolist():
            sel = torch.nonzero(level == k).squeeze(1)
            out[sel] = self._bilinear(k, material[sel], uv_m[sel])
        return out
