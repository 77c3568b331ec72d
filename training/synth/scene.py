"""A procedural scene that renders itself by ray casting: exact z-depth, normals and poses for any camera.

``SyntheticScene.random(seed, kind)`` draws a layout (:mod:`training.synth.layouts`); ``render`` casts one ray
per pixel centre against the analytic primitives, shades the hit with its procedural texture under Lambert +
ambient lighting with hard shadows, and returns a :class:`training.data.frame.Frame`. Because geometry is
analytic, depth is exact (no rasterisation or mesh error), which is what the mask and benchmark tests compare
against. Rays are processed in chunks so memory stays flat at high resolution.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import torch

from core.camera import Camera
from training.data.frame import Frame
from training.synth.cameras import FOV_RANGE_DEG, pixel_rays, sample_cameras
from training.synth.layouts import Layout, Light, PrimitiveBuilder, indoor_layout, outdoor_layout
from training.synth.primitives import surface_normals, surface_uv
from training.synth.randomize import SceneRandomization, randomize_layout
from training.synth.raycast import any_hit, first_hit_culled
from training.synth.textures import TextureAtlas

SceneKind = Literal["indoor", "outdoor"]
KINDS: tuple[SceneKind, ...] = ("indoor", "outdoor")

ENGINE_VERSION = 3
"""Bumped whenever the same seed renders differently (layouts, cameras, shading): include it in cache keys."""

RAY_CHUNK = 32768
"""Rays per intersection batch: bounds the [primitives, rays, 3] temporaries to a few tens of MB."""


@dataclass
class SceneRender:
    """Everything a ray-cast view yields. Sky / miss pixels have depth 0, normals 0 and primitive -1."""

    image: np.ndarray  # [H, W, 3] uint8
    depth: np.ndarray  # [H, W] float32 z-depth, metres
    distance: np.ndarray  # [H, W] float32 Euclidean distance along the ray, metres
    normals_world: np.ndarray  # [H, W, 3] float32
    normals_cam: np.ndarray  # [H, W, 3] float32, OpenCV camera axes
    primitive: np.ndarray  # [H, W] int64


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch ops on one intra-op thread, then restore the caller's setting.

    Why: the ray caster issues many small tensor ops; splitting each across threads buys nothing and, on a busy
    machine, costs 10x or more while threads wait for each other. Parallelism belongs one level up (DataLoader
    workers, each single-threaded). Note that the setting is process-wide while the context is active.
    """
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@lru_cache(maxsize=8)
def _tile_order(height: int, width: int, tile: int = 8) -> torch.Tensor:
    """Raster pixel indices [H*W] listed tile by tile (row-major tiles, row-major inside each tile)."""
    v, u = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    key = ((v // tile) * ((width + tile - 1) // tile) + (u // tile)) * tile * tile + (v % tile) * tile + (u % tile)
    return torch.argsort(key.reshape(-1))


def _as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32).cpu()


class SyntheticScene:
    """One procedural room or street; deterministic from ``(seed, kind)``."""

    def __init__(self, layout: Layout, seed: int, scene_id: str) -> None:
        self.layout = layout
        self.seed = seed
        self.scene_id = scene_id
        self.kind = layout.kind
        self.prims = layout.prims
        self.atlas = TextureAtlas(layout.materials)
        self._materials = self.prims.materials()

    @classmethod
    def random(
        cls, seed: int, kind: SceneKind = "indoor", randomization: SceneRandomization | None = None
    ) -> SyntheticScene:
        """Scene ``seed`` of ``kind``; ``randomization`` changes its look only (:mod:`training.synth.randomize`)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        rng = np.random.default_rng([int(seed), KINDS.index(kind)])
        layout = indoor_layout(rng) if kind == "indoor" else outdoor_layout(rng)
        if randomization is not None:
            layout = randomize_layout(layout, int(seed), randomization)
        return cls(layout, int(seed), f"synth-{kind}-{int(seed)}")

    @classmethod
    def from_builder(
        cls,
        builder: PrimitiveBuilder,
        kind: SceneKind = "indoor",
        light: Light | None = None,
        scene_id: str = "synth-custom",
    ) -> SyntheticScene:
        """A hand-placed scene (tests, benchmarks with known geometry). Default light: a point light 2.5 m above
        the origin; default material: plain grey noise. ``sample_cameras`` needs a generated layout, not this."""
        from training.synth.textures import make_material

        if not builder.materials:
            builder.material(make_material(np.random.default_rng(0), "noise"))
        if light is None:
            light = Light(color=np.ones(3), ambient=0.4, strength=0.8, position=np.array([0.0, -2.5, 0.0]))
        layout = Layout(
            kind=kind,
            prims=builder.build(),
            materials=builder.materials,
            light=light,
            sky_horizon=np.full(3, 0.8),
            sky_zenith=np.array([0.3, 0.5, 0.9]),
        )
        return cls(layout, 0, scene_id)

    # ------------------------------------------------------------------ rendering

    def _shade(
        self, p: torch.Tensor, n: torch.Tensor, prim: torch.Tensor, footprint: torch.Tensor, shadows: bool = True
    ) -> torch.Tensor:
        """RGB [M, 3] of hit points: texture albedo (mip level from the pixel ``footprint`` in metres) x (ambient +
        Lambert, hard shadows when ``shadows``)."""
        light = self.layout.light
        albedo = self.atlas.sample(self._materials[prim], surface_uv(p, n, prim, self.prims), footprint)
        origin = p + n * 2e-3
        if light.position is not None:
            light_pos = torch.as_tensor(light.position, dtype=torch.float32)[None]
            to_light = light_pos - origin
            dist = to_light.norm(dim=-1, keepdim=True)
            lam = ((n * to_light).sum(-1, keepdim=True) / dist).clamp_min(0)
            lam = lam / (1 + (dist / light.falloff_m) ** 2)
            # Cast from the light towards the points (one shared origin, so bounding-cone culling applies).
            blocked = any_hit(light_pos, -to_light, self.prims, torch.ones(p.shape[0])) if shadows else None
        else:
            to_sun = -torch.as_tensor(light.direction, dtype=torch.float32)[None].expand_as(p)
            lam = (n * to_sun).sum(-1, keepdim=True).clamp_min(0)
            blocked = (
                any_hit(origin, to_sun.contiguous(), self.prims, torch.full((p.shape[0],), float("inf")))
                if shadows
                else None
            )
        if blocked is not None:
            lam = lam * (~blocked).float()[:, None]
        lit = light.ambient + light.strength * lam
        return albedo * lit * torch.as_tensor(light.color, dtype=torch.float32)[None]

    def _sky(self, d: torch.Tensor) -> torch.Tensor:
        up = (-d[:, 1] / d.norm(dim=-1)).clamp(0, 1)[:, None] ** 0.6
        hz = torch.as_tensor(self.layout.sky_horizon, dtype=torch.float32)
        zn = torch.as_tensor(self.layout.sky_zenith, dtype=torch.float32)
        return hz * (1 - up) + zn * up

    def render_full(self, K, cam_to_world, height: int, width: int, *, shadows: bool = True) -> SceneRender:
        """Ray-cast the view: K [3, 3], cam_to_world [4, 4] (numpy or torch), OpenCV axes."""
        with single_threaded():
            return self._render_full(K, cam_to_world, height, width, shadows)

    def _render_full(self, K, cam_to_world, height: int, width: int, shadows: bool) -> SceneRender:
        K, c2w = _as_tensor(K), _as_tensor(cam_to_world)
        o, d_raster = pixel_rays(K, c2w, height, width)
        # Work in 8x8-tile order so consecutive rays are coherent (what the culling groups rely on).
        order = _tile_order(height, width)
        d = d_raster[order]
        N = d.shape[0]
        depth = torch.zeros(N)
        prim = torch.full((N,), -1, dtype=torch.long)
        for s in range(0, N, RAY_CHUNK):
            t, i = first_hit_culled(o, d[s : s + RAY_CHUNK], self.prims)
            depth[s : s + RAY_CHUNK] = torch.where(torch.isfinite(t), t, 0.0)
            prim[s : s + RAY_CHUNK] = i
        hit = prim >= 0
        normals = torch.zeros(N, 3)
        color = self._sky(d)
        if hit.any():
            rows = torch.nonzero(hit).squeeze(1)
            d_hit, prim_hit = d[rows], prim[rows]
            p = o + depth[rows, None] * d_hit
            n = surface_normals(p, prim_hit, self.prims)
            cos = (n * d_hit).sum(-1) / d_hit.norm(dim=-1)
            n = torch.where(cos[:, None] > 0, -n, n)  # face the camera
            normals[rows] = n
            # The pixel's size on the surface: distance / focal, stretched by obliquity (geometric mean of the
            # two axes of the footprint ellipse).
            footprint = depth[rows] * d_hit.norm(dim=-1) / K[0, 0] / cos.abs().clamp_min(0.05).sqrt()
            color[rows] = torch.cat(
                [
                    self._shade(
                        p[s : s + RAY_CHUNK],
                        n[s : s + RAY_CHUNK],
                        prim_hit[s : s + RAY_CHUNK],
                        footprint[s : s + RAY_CHUNK],
                        shadows,
                    )
                    for s in range(0, rows.shape[0], RAY_CHUNK)
                ]
            )
        # Back to raster order.
        inv = torch.empty_like(order)
        inv[order] = torch.arange(N)
        depth, prim, normals, color, d = depth[inv], prim[inv], normals[inv], color[inv], d_raster
        image = (color.clamp(0, 1) * 255 + 0.5).to(torch.uint8).reshape(height, width, 3)
        normals_cam = normals @ c2w[:3, :3]  # R^T n for row vectors
        return SceneRender(
            image=image.numpy(),
            depth=depth.reshape(height, width).numpy(),
            distance=(depth * d.norm(dim=-1)).reshape(height, width).numpy(),
            normals_world=normals.reshape(height, width, 3).numpy(),
            normals_cam=normals_cam.reshape(height, width, 3).numpy(),
            primitive=prim.reshape(height, width).numpy(),
        )

    def render(self, K, cam_to_world, height: int, width: int, *, frame_id: str = "0", shadows: bool = True) -> Frame:
        """The view as a :class:`Frame` (z-depth, camera-axes normals, sky = depth 0)."""
        r = self.render_full(K, cam_to_world, height, width, shadows=shadows)
        return Frame(
            image=r.image,
            depth=r.depth,
            K=np.asarray(_as_tensor(K).numpy(), dtype=np.float32),
            cam_to_world=np.asarray(_as_tensor(cam_to_world).numpy(), dtype=np.float32),
            scene_id=self.scene_id,
            frame_id=frame_id,
            normals=r.normals_cam,
        )

    def visible(self, points, K, cam_to_world, height: int, width: int, rel_tol: float = 1e-3) -> np.ndarray:
        """bool [N]: which world points [N, 3] a camera sees, exactly: inside its image (pixel centres rounded)
        and not hidden, i.e. the first surface on the ray from the camera centre lies at the point (within
        ``rel_tol`` of its distance). The ground truth the mask and benchmark tests compare with."""
        with single_threaded():
            return self._visible(points, K, cam_to_world, height, width, rel_tol)

    def _visible(self, points, K, cam_to_world, height: int, width: int, rel_tol: float) -> np.ndarray:
        pts, K, c2w = _as_tensor(points).reshape(-1, 3), _as_tensor(K), _as_tensor(cam_to_world)
        origin = c2w[:3, 3][None]
        cam = (pts - origin) @ c2w[:3, :3]
        z = cam[:, 2]
        zs = z.clamp_min(1e-9)
        u = torch.floor(K[0, 0] * cam[:, 0] / zs + K[0, 2] + 0.5)
        v = torch.floor(K[1, 1] * cam[:, 1] / zs + K[1, 2] + 0.5)
        inside = (z > 1e-6) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
        out = torch.zeros(pts.shape[0], dtype=torch.bool)
        for s in range(0, pts.shape[0], RAY_CHUNK):
            t, _ = first_hit_culled(origin, pts[s : s + RAY_CHUNK] - origin, self.prims)
            out[s : s + RAY_CHUNK] = t >= 1 - rel_tol
        return (out & inside).numpy()

    # ------------------------------------------------------------------ cameras

    def sample_cameras(
        self,
        n: int,
        rng: np.random.Generator,
        height: int,
        width: int,
        fov_range_deg: tuple[float, float] = FOV_RANGE_DEG,
    ) -> list[Camera]:
        """``n`` cameras inside the room / along the street, varied in FOV and height, looking at content
        (see :func:`training.synth.cameras.sample_cameras`)."""
        with single_threaded():
            return sample_cameras(self.layout, n, rng, height, width, fov_range_deg, name=self.scene_id)

    def render_camera(self, camera: Camera, frame_id: str = "0", *, shadows: bool = True) -> Frame:
        """Render a camera from :meth:`sample_cameras`."""
        intr = camera.intrinsics
        return self.render(
            intr.matrix(), camera.cam_to_world, intr.height, intr.width, frame_id=frame_id, shadows=shadows
        )
